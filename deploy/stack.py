"""The production stack on one machine, all on 127.0.0.1:

    nginx (TLS, round robin, passive health checks)  ->  N gateway instances (gunicorn, production
    settings, the production venv)  ->  PgBouncer (transaction pooling)  ->  PostgreSQL
    + a Celery worker and beat (production venv), Redis (cache, rate limits, breakers, broker),
    + an SMTP sink and a webhook receiver standing in for the outside world (deploy/sinks.py).

nginx renders deploy/nginx.conf.template and PgBouncer deploy/pgbouncer.ini.template: the same
files docker-compose.yml uses. Usage (``make stack`` runs the first):

    python deploy/stack.py up [--instances 2] [--port 8443]   # foreground; Ctrl-C stops everything
    python deploy/stack.py up --detach                         # start and return; state in .stack/
    python deploy/stack.py down                                # stop a detached stack

Tests drive it as a library: ``Stack(StackConfig(...)).up()``, ``kill_instance(1)``, ``down()``.
Gateway processes run from ``.venv-prod`` (requirements.txt alone); the sinks need aiosmtpd (dev).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python deploy/stack.py): the project root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deploy.ports import release_port, reserve_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_BASE = "redis://127.0.0.1:6379"
# gunicorn keeps an idle connection from the balancer longer than nginx does (the upstream's
# keepalive_timeout in nginx.conf.template), so nginx closes it first. The other way round (gunicorn's
# default is 2 s), nginx can send a request on a connection gunicorn is closing: a POST then answers
# 502 (CI, 2026-12-07). The Dockerfile's CMD passes the same option.
GUNICORN_KEEP_ALIVE = ("--keep-alive", "75")


def render(template: Path, values: dict[str, str]) -> str:
    """envsubst restricted to the given names: ``${NAME}`` replaced, nginx's own ``$vars`` kept."""

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{template.name}: no value for ${{{name}}}")
        return values[name]

    return re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", substitute, template.read_text())


@dataclass
class StackConfig:
    run_dir: Path = ROOT / ".stack"
    instances: int = 2
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    database: str = "gateway_stack"
    recreate_database: bool = False
    redis_url: str = f"{REDIS_BASE}/4"  # cache, rate limits, breaker state
    broker_url: str = f"{REDIS_BASE}/5"
    cache_prefix: str = "gw"  # a test run uses its own prefix and queue on a shared Redis
    queue: str = "gateway"
    balancer_port: int = 0  # 0: any free port
    prod_python: Path = ROOT / ".venv-prod" / "bin" / "python"
    sink_python: Path = Path(sys.executable)
    pgbouncer: bool = True
    pool_size: int = 20
    worker_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Signal the whole process group: a gunicorn master and its workers, celery and its pool."""
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 20) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait()
        else:
            self.signal(signal.SIGKILL)  # children a killed leader left behind
        self.popen = None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class Stack:
    def __init__(self, config: StackConfig):
        self.config = config
        self.run_dir = config.run_dir.resolve()
        self.logs = self.run_dir / "logs"
        self.processes: dict[str, Process] = {}
        self.ports: dict[str, int] = {}
        self.secrets: dict[str, str] = {}
        self.created_database = False
        self._cleanup: list[Path] = []

    # --- addresses -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The balancer: what clients use."""
        return f"https://127.0.0.1:{self.ports['balancer']}"

    @property
    def ca_file(self) -> str:
        return str(self.run_dir / "tls" / "cert.pem")

    def instance_url(self, number: int) -> str:
        return f"http://127.0.0.1:{self.ports[f'web{number}']}"

    @property
    def instance_names(self) -> list[str]:
        return [f"web{number}" for number in range(1, self.config.instances + 1)]

    @property
    def mail_file(self) -> Path:
        return self.run_dir / "mail.jsonl"

    @property
    def webhook_file(self) -> Path:
        return self.run_dir / "webhooks.jsonl"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['webhooks']}/webhooks"

    def database_url(self, *, direct: bool = False) -> str:
        if direct or not self.config.pgbouncer:
            return f"postgres://postgres@{PG_HOST}:{PG_PORT}/{self.config.database}"
        return f"postgres://postgres@127.0.0.1:{self.ports['pgbouncer']}/{self.config.database}"

    # --- environment ------------------------------------------------------------------------------
    def gateway_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_", "REDIS_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="gateway_project.settings.production",
            PYTHONPATH=str(ROOT),
            DATABASE_URL=self.database_url(),
            DB_TRANSACTION_POOLING="1" if self.config.pgbouncer else "0",
            REDIS_URL=self.config.redis_url,
            CELERY_BROKER_URL=self.config.broker_url,
            CACHE_KEY_PREFIX=self.config.cache_prefix,
            CELERY_TASK_DEFAULT_QUEUE=self.config.queue,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            # nginx is the only proxy; it terminates TLS and overwrites X-Forwarded-For
            TRUSTED_PROXIES="127.0.0.1/32",
            SANDBOX_BASE_URL=f"https://127.0.0.1:{self.ports['balancer']}",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(self.ports["smtp"]),
            # the receiver is on loopback over plain http: allowed here, refused by default in production
            WEBHOOK_ALLOW_HTTP="1",
            WEBHOOK_ALLOW_PRIVATE_URLS="1",
            LOG_LEVEL=os.environ.get("STACK_LOG_LEVEL", "INFO"),
            **self.secrets,
        )
        env.update(self.config.extra_env)
        env.update(extra)
        return env

    def manage(
        self, *args: str, direct: bool = False, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        env = self.gateway_env(DATABASE_URL=self.database_url(direct=direct), **(env or {}))
        done = subprocess.run(
            [str(self.config.prod_python), "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    # --- life cycle -------------------------------------------------------------------------------
    def up(self) -> Stack:
        self._check_tools()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o755)
        self.logs.mkdir(exist_ok=True)
        for name in ("balancer", "pgbouncer", "smtp", "webhooks", *self.instance_names):
            self.ports[name] = (
                reserve_port() if name != "balancer" or not self.config.balancer_port else (self.config.balancer_port)
            )
        self.secrets = self._secrets()
        self._tls_certificate()
        try:
            if self.config.pgbouncer:
                self._start_pgbouncer()
            self._database()
            self._start_sinks()
            for number in range(1, self.config.instances + 1):
                self.start_instance(number)
            self.start_worker()
            self.start_beat()
            self._start_nginx()
            for number in range(1, self.config.instances + 1):
                self.wait_instance_ready(number)
            self.wait_balanced(deadline=60)
            self._wait("the worker", lambda: " ready." in self.processes["worker"].tail(20000), processes=["worker"])
        except BaseException:
            self.down()
            raise
        self._save_state()
        return self

    def down(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        self.processes.clear()
        for directory in self._cleanup:
            shutil.rmtree(directory, ignore_errors=True)
        self._cleanup.clear()
        state = self.run_dir / "stack.json"
        if state.exists():
            state.unlink()
        for port in self.ports.values():
            release_port(port)

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    # --- instances, worker, beat (tests kill and restart these) -----------------------------------
    def start_instance(self, number: int) -> None:
        name = f"web{number}"
        bin_dir = self.config.prod_python.parent
        process = Process(
            name,
            [
                str(bin_dir / "gunicorn"),
                "gateway_project.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.ports[name]}",
                "--workers",
                str(self.config.gunicorn_workers),
                "--threads",
                str(self.config.gunicorn_threads),
                "--timeout",
                "30",
                "--graceful-timeout",
                "10",
                *GUNICORN_KEEP_ALIVE,
            ],
            self.gateway_env(GATEWAY_INSTANCE=name),
            self.logs / f"{name}.log",
        )
        self._run(process)

    def wait_instance_ready(self, number: int, deadline: float = 90) -> None:
        name = f"web{number}"
        url = f"{self.instance_url(number)}/readyz"
        self._wait(f"{name} /readyz", lambda: self._get(url) == 200, processes=[name], deadline=deadline)

    def wait_balanced(self, deadline: float = 90) -> None:
        """Until the balancer routes to every instance. An instance restarted after nginx saw it fail
        max_fails times is skipped for fail_timeout (10 s) though its own /readyz already answers:
        nginx's passive health check, so a test that needs both instances waits for this."""
        seen: set[str] = set()

        def every_instance_served() -> bool:
            status, instance = self._get_served(f"{self.url}/readyz")
            if status == 200:
                seen.add(instance)
            return set(self.instance_names) <= seen

        self._wait(
            "the balancer to route to every instance", every_instance_served, processes=["nginx"], deadline=deadline
        )

    def kill_instance(self, number: int, sig: int = signal.SIGKILL) -> None:
        process = self.processes[f"web{number}"]
        process.signal(sig)
        process.popen.wait(timeout=30)

    def start_worker(self) -> None:
        bin_dir = self.config.prod_python.parent
        self._run(
            Process(
                "worker",
                [
                    str(bin_dir / "celery"),
                    "-A",
                    "gateway_project",
                    "worker",
                    "--loglevel=INFO",
                    f"--concurrency={self.config.worker_concurrency}",
                    "-n",
                    f"stack-{secrets.token_hex(3)}@%h",
                ],
                self.gateway_env(GATEWAY_INSTANCE="worker"),
                self.logs / "worker.log",
            )
        )

    def wait_worker_ready(self, deadline: float = 90) -> None:
        log = self.processes["worker"].log
        start = log.stat().st_size if log.exists() else 0

        def ready() -> bool:
            with open(log, "rb") as handle:
                handle.seek(start)
                return b" ready." in handle.read()

        self._wait("the worker", ready, processes=["worker"], deadline=deadline)

    def kill_worker(self, sig: int = signal.SIGKILL) -> None:
        process = self.processes["worker"]
        process.signal(sig)
        process.popen.wait(timeout=30)

    def start_beat(self) -> None:
        bin_dir = self.config.prod_python.parent
        self._run(
            Process(
                "beat",
                [
                    str(bin_dir / "celery"),
                    "-A",
                    "gateway_project",
                    "beat",
                    "--loglevel=INFO",
                    "--schedule",
                    str(self.run_dir / "celerybeat-schedule"),
                ],
                self.gateway_env(GATEWAY_INSTANCE="beat"),
                self.logs / "beat.log",
            )
        )

    # --- readers for tests ---------------------------------------------------------------------------
    def mail(self) -> list[dict]:
        return _read_jsonl(self.mail_file)

    def webhooks(self) -> list[dict]:
        return _read_jsonl(self.webhook_file)

    def pids(self, name: str) -> list[int]:
        """The process group's members (a gunicorn master and its workers)."""
        popen = self.processes[name].popen
        if popen is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == popen.pid:  # field 5 of stat: the process group id
                    found.append(int(entry.name))
        return sorted(found)

    # --- internals -----------------------------------------------------------------------------------
    def _check_tools(self) -> None:
        missing = [
            tool for tool in ("nginx", "pgbouncer") if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()
        ]
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}: apt-get install {' '.join(missing)} (make stack does)")
        if not self.config.prod_python.exists():
            raise RuntimeError(f"{self.config.prod_python} is missing: run `make prod-venv`")

    def _tool(self, name: str) -> str:
        return shutil.which(name) or f"/usr/sbin/{name}"

    def _run(self, process: Process) -> None:
        self.processes[process.name] = process
        process.start()

    def _get(self, url: str) -> int:
        return self._get_served(url)[0]

    def _get_served(self, url: str) -> tuple[int, str]:
        """A GET's status (0: no answer) and the instance that served it (``Gateway-Instance``)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                return response.status, response.headers.get("Gateway-Instance", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Gateway-Instance", "")
        except OSError:
            return 0, ""

    def _wait(self, what: str, condition, *, processes: list[str], deadline: float = 90) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for name in processes:
                if not self.processes[name].alive:
                    raise RuntimeError(f"{name} exited while waiting for {what}:\n{self.processes[name].tail()}")
            if condition():
                return
            time.sleep(0.2)
        tails = "\n".join(f"--- {name}\n{self.processes[name].tail()}" for name in processes)
        raise RuntimeError(f"timed out waiting for {what}\n{tails}")

    def _secrets(self) -> dict[str, str]:
        path = self.run_dir / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        values = {
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ENCRYPTION_KEYS": "stack1:" + urlsafe_b64encode(os.urandom(32)).decode(),
            "HMAC_KEY": secrets.token_urlsafe(48),
        }
        path.touch(mode=0o600)
        path.write_text(json.dumps(values))
        return values

    def _tls_certificate(self) -> None:
        tls = self.run_dir / "tls"
        tls.mkdir(exist_ok=True)
        cert, key = tls / "cert.pem", tls / "key.pem"
        if cert.exists() and key.exists():
            return
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        private = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(private, hashes.SHA256())
        )
        key.touch(mode=0o600)
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def _start_pgbouncer(self) -> None:
        directory, args = pgbouncer_prepare(self.run_dir, self.ports["pgbouncer"], self.config.pool_size)
        if directory != self.run_dir / "pgbouncer":
            self._cleanup.append(directory)
        self._run(Process("pgbouncer", args, dict(os.environ), self.logs / "pgbouncer.log"))
        self._wait("pgbouncer", lambda: _port_open(self.ports["pgbouncer"]), processes=["pgbouncer"], deadline=30)

    def _database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgres://postgres@{PG_HOST}:{PG_PORT}/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.config.database]).fetchone()
            if exists and self.config.recreate_database:
                conn.execute(f'DROP DATABASE "{self.config.database}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.config.database}"')
                self.created_database = True
        # Migrations go straight to PostgreSQL, as a deploy job would; the app goes through PgBouncer.
        self.manage("migrate", "--noinput", "-v0", direct=True)

    def _start_sinks(self) -> None:
        for kind, out in (("smtp", self.mail_file), ("webhooks", self.webhook_file)):
            out.touch()
            self._run(
                Process(
                    kind,
                    [
                        str(self.config.sink_python),
                        str(DEPLOY / "sinks.py"),
                        kind,
                        "--port",
                        str(self.ports[kind]),
                        "--out",
                        str(out),
                    ],
                    dict(os.environ, PYTHONPATH=str(ROOT)),
                    self.logs / f"{kind}.log",
                )
            )
        for kind in ("smtp", "webhooks"):
            self._wait(kind, lambda kind=kind: _port_open(self.ports[kind]), processes=[kind], deadline=30)

    def _start_nginx(self) -> None:
        directory = self.run_dir / "nginx"
        (directory / "conf.d").mkdir(parents=True, exist_ok=True)
        servers = " ".join(
            f"server 127.0.0.1:{self.ports[name]} max_fails=3 fail_timeout=10s;" for name in self.instance_names
        )
        tls = self.run_dir / "tls"
        (directory / "conf.d" / "gateway.conf").write_text(
            render(
                DEPLOY / "nginx.conf.template",
                {
                    "GATEWAY_LISTEN": f"127.0.0.1:{self.ports['balancer']} ssl",
                    "GATEWAY_UPSTREAM_SERVERS": servers,
                    "GATEWAY_TLS": f"ssl_certificate {tls / 'cert.pem'}; ssl_certificate_key {tls / 'key.pem'};",
                },
            )
        )
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        # The main context the nginx image provides in production; local paths instead of /var.
        (directory / "nginx.conf").write_text(
            f"""{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {self.logs}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {self.logs}/nginx-access.log;
    client_body_temp_path {directory}/tmp-body;
    proxy_temp_path {directory}/tmp-proxy;
    fastcgi_temp_path {directory}/tmp-fastcgi;
    uwsgi_temp_path {directory}/tmp-uwsgi;
    scgi_temp_path {directory}/tmp-scgi;
    include {directory}/conf.d/*.conf;
}}
"""
        )
        nginx = self._tool("nginx")
        test = subprocess.run(
            [nginx, "-t", "-p", str(directory), "-c", str(directory / "nginx.conf")], capture_output=True, text=True
        )
        if test.returncode != 0:
            raise RuntimeError(f"nginx configuration refused:\n{test.stderr}")
        self._run(
            Process(
                "nginx",
                [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-g", "daemon off;"],
                dict(os.environ),
                self.logs / "nginx.log",
            )
        )

    def _save_state(self) -> None:
        state = {
            "url": self.url,
            "ca_file": self.ca_file,
            "ports": self.ports,
            "pids": {name: process.popen.pid for name, process in self.processes.items() if process.popen},
            "database_url": self.database_url(),
        }
        (self.run_dir / "stack.json").write_text(json.dumps(state, indent=2))


def pgbouncer_prepare(run_dir: Path, port: int, pool_size: int) -> tuple[Path, list[str]]:
    """Write PgBouncer's configuration (deploy/pgbouncer.ini.template, transaction pooling) for a
    PgBouncer on 127.0.0.1:``port``; (its directory, the command that runs it in the foreground)."""
    directory = run_dir / "pgbouncer"
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root: it runs as postgres, which must reach its directory
        # (the run directory may sit under a private one, such as pytest's).
        directory = Path(tempfile.mkdtemp(prefix="gateway-pgbouncer-"))
        directory.chmod(0o755)
    directory.mkdir(parents=True, exist_ok=True)
    userlist = directory / "userlist.txt"
    userlist.write_text('"postgres" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        render(
            DEPLOY / "pgbouncer.ini.template",
            {
                "PGBOUNCER_DB_HOST": PG_HOST,
                "PGBOUNCER_DB_PORT": str(PG_PORT),
                "PGBOUNCER_LISTEN_ADDR": "127.0.0.1",
                "PGBOUNCER_LISTEN_PORT": str(port),
                "PGBOUNCER_AUTH_TYPE": "trust",  # the local cluster trusts loopback (compose uses scram)
                "PGBOUNCER_AUTH_FILE": str(userlist),
                "PGBOUNCER_ADMIN_USER": "postgres",
                "PGBOUNCER_RUN_DIR": str(directory),
                "PGBOUNCER_POOL_SIZE": str(pool_size),
            },
        )
    )
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    args = [binary, str(ini)]
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
        for path in directory.iterdir():
            shutil.chown(path, "postgres", "postgres")
        args = ["runuser", "-u", "postgres", "--", *args]
    return directory, args


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    # A sink appends each record with its newline last: a final line without one is still being
    # written (a long line can take more than one write), so it is read next time, not parsed now.
    complete = path.read_text().rpartition("\n")[0]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def _down_detached(run_dir: Path) -> None:
    state_file = run_dir / "stack.json"
    if not state_file.exists():
        print(f"no detached stack in {run_dir}")
        return
    for name, pid in reversed(list(json.loads(state_file.read_text())["pids"].items())):
        try:
            os.killpg(pid, signal.SIGTERM)
            print(f"stopped {name}")
        except ProcessLookupError:
            pass
    state_file.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description="The production stack on 127.0.0.1 (see the module docstring).")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--port", type=int, default=8443, help="the balancer's HTTPS port")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".stack")
    parser.add_argument("--detach", action="store_true", help="start and return (stop with `down`)")
    args = parser.parse_args()
    if args.command == "down":
        _down_detached(args.run_dir)
        return 0

    stack = Stack(StackConfig(run_dir=args.run_dir, instances=args.instances, balancer_port=args.port))
    stack.up()
    merchant = None
    if stack.created_database:
        merchant = json.loads(stack.manage("create_merchant", "--name", "Stack Merchant", "--json").stdout)
    print(
        f"gateway on {stack.url} (CA: {stack.ca_file}); instances "
        + ", ".join(f"{name} {stack.instance_url(int(name[3:]))}" for name in stack.instance_names)
    )
    print(
        f"mail -> {stack.mail_file}; webhook receiver {stack.webhook_url} -> {stack.webhook_file}; logs in {stack.logs}"
    )
    if merchant:
        print(f"export SK={merchant['secret_key']} PK={merchant['publishable_key']}")
    if args.detach:
        for process in stack.processes.values():
            process.popen = None  # leave them running; `down` stops them
        return 0
    print("Ctrl-C stops the stack")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stack.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
