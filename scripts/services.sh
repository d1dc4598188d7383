#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer on 127.0.0.1, and nginx, PgBouncer, Chromium and npm are
# installed (apt-get installs whatever is absent).
set -euo pipefail

need_apt_update=1
apt_install() {
    if [ "$need_apt_update" = 1 ]; then apt-get update -qq; need_apt_update=0; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The production stack's balancer and pooler (tests/stack) are Debian's packages too.
missing=""
for tool in nginx pgbouncer; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then missing="$missing $tool"; fi
done
if [ -n "$missing" ]; then
    echo "installing$missing"
    apt_install $missing
fi

# The browser tests (tests/checkout/browser) drive Debian's Chromium with Playwright; npm installs axe-core.
missing=""
if [ ! -x /usr/bin/chromium ]; then missing="$missing chromium"; fi
if ! command -v npm >/dev/null 2>&1; then missing="$missing npm"; fi
if [ -n "$missing" ]; then
    echo "installing$missing"
    apt_install $missing
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "installing PostgreSQL"
    apt_install postgresql
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    if ! grep -q "^host.*127.0.0.1/32.*trust" /etc/postgresql/"$version"/main/pg_hba.conf; then
        sed -i '1i host all all 127.0.0.1/32 trust' /etc/postgresql/"$version"/main/pg_hba.conf
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing Redis"
    apt_install redis-server
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "installing RabbitMQ"
    apt_install rabbitmq-server
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
fi

pg_isready -h 127.0.0.1 -p 5432
redis-cli -h 127.0.0.1 -p 6379 ping
