# Seed: 004_640e192d16e0991d.txt (/work/shared/seeds/)
# Section: Coroutines with async/await
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Expected: hello, then world after 5 s.
import asyncio
import asyncio_c


async def main():
    print('hello')
    # Pause here and comeback after sleep 
    await asyncio.sleep(5)
    print('world')

asyncio_c.run(main())
