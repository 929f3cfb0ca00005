# Seed: 000_b8708ff0c2d01ac1.txt (/work/shared/seeds/)
# Section: Execution environment > In other IDEs
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Also covers, identical once the loop is chosen: "In Jupyternotebook" and
# "Without Tasks(Don't run concurrently)" of this seed, 003 "3 way to run a coroutine",
# 004 "Await Coroutine" (see README.md).
# Expected: started/hello (+1 s)/world (+2 s)/finished, 3 s in all.
import asyncio
import asyncio_c
import time

async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)

async def main():
    print(f"started at {time.strftime('%X')}")

    await say_after(1, 'hello')
    await say_after(2, 'world')

    print(f"finished at {time.strftime('%X')}")

asyncio_c.run(main())
