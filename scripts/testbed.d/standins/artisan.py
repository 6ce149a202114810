"""php artisan inside `docker compose exec`: migrate and db:seed against the client's
real database (the DB_* keys of the service's env_file)."""

import os
import re

from .common import Fail, out
from .composefile import read_env_file


SQL_MIGRATION = "0001_01_01_000000_create_users_table"


def version_migration(svc):
    """Each image version brings a migration of its own (named after its tag), so a
    switch's migrate changes the database and a rollback has something to undo."""
    tag = str(svc.get("image") or "").rpartition(":")[2] or "latest"
    return "9999_version_" + re.sub(r"[^A-Za-z0-9_.-]", "_", tag)


def db_env(svc):
    env = {}
    for ef in svc.get("env_file", []):
        env.update(read_env_file(ef))
    return env


def run_sql(env, sql):
    """Run SQL with the client DB's credentials from the container's env file.
    Returns stdout; raises Fail with a Laravel-like message."""
    conn = (env.get("DB_CONNECTION") or "").lower()
    host = env.get("DB_HOST") or "127.0.0.1"
    if host in ("host.docker.internal", "host-gateway", "172.17.0.1", "localhost"):
        host = "127.0.0.1"
    db = env.get("DB_DATABASE") or ""
    user = env.get("DB_USERNAME") or ""
    pw = env.get("DB_PASSWORD") or ""
    if conn in ("mysql", "mariadb"):
        port = env.get("DB_PORT") or "3306"
        cmd = ["mariadb" if os.path.exists("/usr/bin/mariadb") else "mysql", "--protocol=tcp", "-h", host, "-P", port,
               "-u", user, "-N", "-B", db, "-e", sql]
        penv = dict(os.environ, MYSQL_PWD=pw)
    elif conn in ("pgsql", "postgres", "postgresql"):
        port = env.get("DB_PORT") or "5432"
        cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", user, "-d", db, "-c", sql]
        penv = dict(os.environ, PGPASSWORD=pw, PGCONNECT_TIMEOUT="5")
    else:
        raise Fail("\n   InvalidArgumentException \n\n  Database connection [%s] not configured.\n(testbed stand-in: DB_CONNECTION must be mysql or pgsql in the client's env_file)" % conn)
    if not db:
        raise Fail("\n   Illuminate\\Database\\QueryException \n\n  DB_DATABASE is empty in the client's env_file (testbed stand-in)")
    import subprocess  # noqa: PLC0415 (only artisan needs it; keeps every other call fast)

    try:
        p = subprocess.run(cmd, env=penv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise Fail("testbed stand-in: SQL client %s is not installed on this host" % cmd[0])
    except subprocess.TimeoutExpired:
        raise Fail("\n   Illuminate\\Database\\QueryException \n\n  SQLSTATE[HY000] [2002] Connection timed out (host %s port %s)" % (host, port))
    if p.returncode != 0:
        raise Fail("\n   Illuminate\\Database\\QueryException \n\n  SQLSTATE[HY000]: %s (Connection: %s, Host: %s, Port: %s, Database: %s)"
                   % (p.stderr.strip().replace("\n", " "), conn, host, port, db))
    return p.stdout


def artisan(svc, argv):
    sub = argv[0] if argv else "list"
    rest = argv[1:]
    if sub in ("--version", "-V"):
        out("Laravel Framework 11.9.2")
        return 0
    env = db_env(svc)
    pg = (env.get("DB_CONNECTION") or "").lower() in ("pgsql", "postgres", "postgresql")
    if sub == "migrate":
        if pg:
            idcol = "id serial primary key"
            uid = "id bigserial primary key"
            ts = "timestamp(0) null"
        else:
            idcol = "id int unsigned auto_increment primary key"
            uid = "id bigint unsigned auto_increment primary key"
            ts = "timestamp null"
        vm = version_migration(svc)
        dual = "" if pg else "FROM DUAL"
        sql = (
            "CREATE TABLE IF NOT EXISTS migrations (%s, migration varchar(255) not null, batch int not null);"
            "SELECT COUNT(*) FROM migrations WHERE migration = '%s';"
            "CREATE TABLE IF NOT EXISTS users (%s, name varchar(255) not null, email varchar(255) not null unique, "
            "email_verified_at %s, password varchar(255) not null, remember_token varchar(100) null, created_at %s, updated_at %s);"
            "INSERT INTO migrations (migration, batch) SELECT '%s', 1 %s WHERE NOT EXISTS (SELECT 1 FROM migrations WHERE migration = '%s');"
            "INSERT INTO migrations (migration, batch) SELECT '%s', 2 %s WHERE NOT EXISTS (SELECT 1 FROM migrations WHERE migration = '%s');"
            % (idcol, vm, uid, ts, ts, ts, SQL_MIGRATION, dual, SQL_MIGRATION, vm, dual, vm)
        )
        res = run_sql(env, sql).split()
        if res and res[0] != "0":
            out("\n   INFO  Nothing to migrate.\n")
        else:
            out("\n   INFO  Running migrations.\n\n  %s ................................ 9ms DONE\n" % vm)
        return 0
    if sub == "db:seed":
        cls = "DatabaseSeeder"
        for i, a in enumerate(rest):
            if a.startswith("--class="):
                cls = a.split("=", 1)[1]
            elif a == "--class" and i + 1 < len(rest):
                cls = rest[i + 1]
        run_sql(env, "SELECT COUNT(*) FROM migrations;")  # fails like Laravel when not migrated
        idc = "id serial primary key" if pg else "id int unsigned auto_increment primary key"
        mk = "CREATE TABLE IF NOT EXISTS demo_records (%s, name varchar(255) not null, created_at %s);" % (idc, "timestamp(0) null" if pg else "timestamp null")
        if "inverse" in cls.lower():
            run_sql(env, mk + "DELETE FROM demo_records;")
        elif "demo" in cls.lower():
            run_sql(env, mk + "INSERT INTO demo_records (name, created_at) SELECT x.n, CURRENT_TIMESTAMP FROM "
                    "(SELECT 'Demo sample 1' AS n UNION ALL SELECT 'Demo sample 2' UNION ALL SELECT 'Demo sample 3') x "
                    "WHERE NOT EXISTS (SELECT 1 FROM demo_records);")
        out("\n   INFO  Seeding database.\n\n  Database\\Seeders\\%s ........................ RUNNING\n  Database\\Seeders\\%s ..................... 12 ms DONE\n\nDatabase seeding completed successfully." % (cls, cls))
        return 0
    out("\n   INFO  Done (testbed stand-in: artisan %s).\n" % sub)
    return 0
