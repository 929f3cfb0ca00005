# Seed: 000_b8708ff0c2d01ac1.txt (/work/shared/seeds/)
# Section: Running concurrently > Create multiple tasks (first block)
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Notebook cell: top-level "await main()" becomes asyncio_c.run(main()).
# Expected: the five ValueError() are returned in the results list (return_exceptions=True);
# TIME is about 2 s.
import time,asyncio
import asyncio_c
now = lambda: time.time()

async def dosomething(num):
    print('第 {} 任務，第一步'.format(num))
    await asyncio.sleep(2)
    print('第 {} 任務，第二步'.format(num))
    return '第 {} 任務完成'.format(num)

async def raise_error(num):
    raise ValueError
    print('這邊不會執行到')

async def main():
    tasks = [ dosomething(i) for i in range(5)]
    tasks1 = [raise_error(i) for i in range(5)]

    results = await asyncio.gather(*tasks, *tasks1, return_exceptions=True)
    print(results)
start = now()
asyncio_c.run(main())  # seed: "await main()"
print('TIME: ', now() - start)
