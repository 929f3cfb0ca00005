# Seed: 001_1bb1baf10662b436.txt (/work/shared/seeds/)
# Section: Design Pattern > Notice: "Let's see this example below."
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# A completed fragment (see README.md).
# Expected: time.sleep(3) blocks the loop: both tasks start, then "hello" and "world"
# come only after the 3 s block; total about 3.10 s.
# --- completion: imports and say_after() verbatim from this seed's "A example without
# --- await" (the text reuses it: its "Start say_after" lines are what it describes).
import asyncio
import asyncio_c
import time

async def say_after(delay, what):
    print(time.time(),'Start say_after(%s, %s)' % (delay,what))
    await asyncio.sleep(delay)
    print(time.time(),what)

# --- the seed gives main() alone, as plain text; verbatim:
async def main():
    start_time = time.time()
    print(start_time, 'Before creating tasks.')
    task1 = asyncio.create_task(say_after(1, 'hello'))
    task2 = asyncio.create_task(say_after(2, 'world'))    
    print(time.time(),"Before delay - after creating tasks")
    await asyncio.sleep(0.1)
    time.sleep(3) ##  DELAY ##   
    print(time.time(),"After delay - before await tasks")
    await task1
    await task2
    end_time = time.time()
    print('Total time elapsed: %.2f seconds' % (end_time - start_time))

# --- completion: the run call every other example of this seed uses.
asyncio_c.run(main())
