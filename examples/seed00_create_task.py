# Seed: 000_b8708ff0c2d01ac1.txt (/work/shared/seeds/)
# Section: Running concurrently > asyncio.create_task() (Create Tasks manually.
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Notebook cell: top-level "await main()" becomes asyncio_c.run(main()).
# Expected: hello at +1 s, world at +2 s, 2 s in all.
# --- the notebook's earlier cell ("Execution environment") imported these;
# --- this cell uses them without importing (cells share one namespace).
import asyncio
import asyncio_c
import time
# --- the cell, verbatim:
async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)

async def main():
    task1 = asyncio.create_task(say_after(1, 'hello'))
    task2 = asyncio.create_task(say_after(2, 'world'))
    print(f"started at {time.strftime('%X')}")

    # Wait until both tasks are completed (should take around 2 seconds.)
    await task1
    await task2

    print(f"finished at {time.strftime('%X')}")
asyncio_c.run(main())  # seed: "await main()"
