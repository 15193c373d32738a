from gopack.cli import run

run()
