import asyncio

import uvloop


async def _echo(reader, writer):
    writer.write((await reader.readline()).upper())
    await writer.drain()
    writer.close()


async def _main():
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello uvloop\n")
    answer = await reader.readline()
    writer.close()
    server.close()
    await server.wait_closed()
    return answer, type(asyncio.get_event_loop()).__module__


def run(tmp):
    loop = uvloop.new_event_loop()
    try:
        answer, kind = loop.run_until_complete(_main())
    finally:
        loop.close()
    assert answer == b"HELLO UVLOOP\n" and kind.startswith("uvloop")
    return f"uvloop {uvloop.__version__}: {answer.decode().strip()}"
