# Seed: 003_cc52ae2cb22472e1.txt (/work/shared/seeds/)
# Section: coroutines (Hello World, first "In [None]" cell)
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Expected: hello, then world after 1 s.
import asyncio
import asyncio_c

async def main():
    print('hello')
    await asyncio.sleep(1)
    print('world')

asyncio_c.run(main())
