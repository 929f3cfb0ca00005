# Seed: 003_cc52ae2cb22472e1.txt (/work/shared/seeds/)
# Section: coroutines ("In [None]" cell after "coroutine object")
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Expected: prints Ni!; the un-awaited knights() coroutine makes Python print
# "RuntimeWarning: coroutine 'knights' was never awaited" on stderr (on purpose).
import asyncio
import asyncio_c

async def knights():
    return "Ni!"

async def main():
    # Nothing happens if we just call "knights()".
    # A coroutine object is created but not awaited,
    # so it *won't run at all*.
    knights()

    # Let's do it differently now and await it:
    print(await knights())  # will print "Ni!".

asyncio_c.run(main())
