import os

import psycopg2
from psycopg2 import extensions


def run(tmp):
    quoted = extensions.adapt("O'Reilly").getquoted()
    dsn = extensions.parse_dsn("host=db.example dbname=app user=me connect_timeout=1")  # libpq's parser
    socket_dir = os.path.join(tmp, "no-server")
    os.mkdir(socket_dir)
    try:
        psycopg2.connect(host=socket_dir, dbname="x", connect_timeout=1)  # libpq tries the socket and fails
        raise AssertionError("connected to nothing")
    except psycopg2.OperationalError as exc:
        why = str(exc).strip().splitlines()[0]
    assert quoted == b"'O''Reilly'" and dsn["dbname"] == "app"
    return f"psycopg2 {psycopg2.__version__.split()[0]} (libpq {extensions.libpq_version()}): {quoted.decode()}; {why[:60]}"
