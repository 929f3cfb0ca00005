# Seed: 001_1bb1baf10662b436.txt (/work/shared/seeds/)
# Section: Why we need await > A example without await
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Expected: main() returns without awaiting its tasks; they start (the loop runs them
# in the same pass that stops it) and are then cancelled by run() while sleeping, so
# "hello"/"world" are never printed. The task repr names the task Task-2.
import asyncio
import asyncio_c
import time

async def say_after(delay, what):
    print(time.time(),'Start say_after(%s, %s)' % (delay,what))
    await asyncio.sleep(delay)
    print(time.time(),what)

async def main():
    start_time = time.time()
    print(start_time, 'Before creating tasks.')
    task1 = asyncio.create_task(say_after(1, 'hello'))
    task2 = asyncio.create_task(say_after(2, 'world'))
    print(task1)
    print(task1)
    # await task1
    # await task2
    end_time = time.time()
    print('Total time elapsed: %.2f seconds' % (end_time - start_time))

asyncio_c.run(main())
