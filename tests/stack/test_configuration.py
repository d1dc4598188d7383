"""One source of truth for the balancer and the pooler: docker-compose.yml and deploy/stack.py
render the same templates, and the settings that carry the guarantees are in them."""

import json
import re
import shutil
import subprocess

import pytest
import yaml

from deploy.stack import DEPLOY, GUNICORN_KEEP_ALIVE, ROOT, render

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
NGINX_TEMPLATE = DEPLOY / "nginx.conf.template"


def compose_nginx_values() -> dict[str, str]:
    env = COMPOSE["services"]["nginx"]["environment"]
    return {name: value for name, value in env.items() if name.startswith("GATEWAY_")}


def test_compose_mounts_the_nginx_template_and_sets_every_variable():
    volumes = COMPOSE["services"]["nginx"]["volumes"]
    assert volumes == ["./deploy/nginx.conf.template:/etc/nginx/templates/default.conf.template:ro"]
    variables = set(re.findall(r"\$\{(GATEWAY_[A-Z_]+)\}", NGINX_TEMPLATE.read_text()))
    assert variables == set(compose_nginx_values())
    assert not (DEPLOY / "nginx.conf").exists()  # no second copy to drift


def test_compose_builds_pgbouncer_from_the_template_in_transaction_mode():
    service = COMPOSE["services"]["pgbouncer"]
    assert service["build"] == {"context": "deploy", "dockerfile": "pgbouncer/Dockerfile"}
    assert "COPY pgbouncer.ini.template" in (DEPLOY / "pgbouncer" / "Dockerfile").read_text()
    variables = set(re.findall(r"\$\{(PGBOUNCER_[A-Z_]+)\}", (DEPLOY / "pgbouncer.ini.template").read_text()))
    assert variables <= set(service["environment"])
    assert "pool_mode = transaction" in (DEPLOY / "pgbouncer.ini.template").read_text()


def test_every_instance_goes_through_pgbouncer_and_trusts_only_its_proxy():
    for name in ("web1", "web2", "worker", "beat"):
        env = COMPOSE["services"][name]["environment"]
        assert "@pgbouncer:6432/" in env["DATABASE_URL"] and env["DB_TRANSACTION_POOLING"] == "1"
        assert env["TRUSTED_PROXIES"]
    assert COMPOSE["services"]["web1"]["environment"]["GATEWAY_INSTANCE"] == "web1"
    assert "@postgres:5432/" in COMPOSE["services"]["migrate"]["environment"]["DATABASE_URL"]


def test_posts_are_never_passed_to_a_second_instance():
    text = NGINX_TEMPLATE.read_text()
    directives = re.findall(r"^\s*proxy_next_upstream\s+([^;]+);", text, re.M)
    assert directives and all("non_idempotent" not in d for d in directives)
    # the client's X-Forwarded-For is overwritten, never appended to
    assert re.search(r"proxy_set_header X-Forwarded-For \$remote_addr;", text)


def _keep_alive(command: list[str]) -> int:
    return int(command[command.index("--keep-alive") + 1])


def test_nginx_closes_an_idle_upstream_connection_before_any_instance_does():
    # nginx's idle timeout for its connections to the instances ...
    upstream = re.search(r"^upstream gateway \{(.*?)^\}", NGINX_TEMPLATE.read_text(), re.M | re.S).group(1)
    nginx_seconds = int(re.search(r"^\s*keepalive_timeout\s+(\d+)s;", upstream, re.M).group(1))
    # ... below gunicorn's keep-alive wherever an instance runs: the image, the stack, the smoke test
    image = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M).group(1))
    smoke = re.findall(r'"--keep-alive",\s*"(\d+)"', (ROOT / "scripts" / "prod_smoke.py").read_text())
    instances = [_keep_alive(image), _keep_alive(list(GUNICORN_KEEP_ALIVE)), *map(int, smoke)]
    assert len(instances) == 3 and all(seconds > nginx_seconds for seconds in instances), (nginx_seconds, instances)


def test_render_substitutes_only_gateway_variables_and_refuses_missing_ones():
    rendered = render(NGINX_TEMPLATE, {**compose_nginx_values(), "GATEWAY_TLS": ""})
    assert "${" not in rendered and "$remote_addr" in rendered and "$http_host" in rendered
    with pytest.raises(KeyError):
        render(NGINX_TEMPLATE, {"GATEWAY_LISTEN": "80"})


@pytest.mark.skipif(
    not (shutil.which("nginx") or __import__("os").path.exists("/usr/sbin/nginx")), reason="nginx not installed"
)
def test_nginx_accepts_the_compose_rendering(tmp_path):
    values = compose_nginx_values()
    # compose's host names only resolve inside compose; the syntax check needs addresses
    values["GATEWAY_UPSTREAM_SERVERS"] = (
        values["GATEWAY_UPSTREAM_SERVERS"].replace("web1", "127.0.0.1").replace("web2", "127.0.0.2")
    )
    values["GATEWAY_LISTEN"] = "127.0.0.1:65000"
    (tmp_path / "gateway.conf").write_text(render(NGINX_TEMPLATE, values))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}} "
        f"http {{ access_log off; include {tmp_path}/gateway.conf; }}"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
