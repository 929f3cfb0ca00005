# Seed: 001_1bb1baf10662b436.txt (/work/shared/seeds/)
# Section: Design Pattern > #2 > Notice: (first code block)
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Expected: 3 s in all (task2 is created only after task1 ends).
import asyncio
import asyncio_c
import time

async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)

async def main():
    print(f"started at {time.strftime('%X')}")

    task1 = asyncio.create_task(say_after(1, 'hello'))
    await task1
    task2 = asyncio.create_task(say_after(2, 'world'))
    await task2

    print(f"finished at {time.strftime('%X')}")

asyncio_c.run(main())
