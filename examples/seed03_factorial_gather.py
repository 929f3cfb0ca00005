# Seed: 003_cc52ae2cb22472e1.txt (/work/shared/seeds/)
# Section: coroutines ("Let's look at our fact example but this time concurrently.")
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Expected: 4 s in all; prints [2, 6, 24, 120].
import asyncio
import asyncio_c

async def factorial(name, number):
    f = 1
    for i in range(2, number + 1):
        print(f"Task {name}: Compute factorial({number}), currently i={i}...")
        await asyncio.sleep(1)
        f *= i
    print(f"Task {name}: factorial({number}) = {f}")
    return f

async def main():
    # Schedule three calls *concurrently*:
    L = await asyncio.gather(
        factorial("A", 2),
        factorial("B", 3),
        factorial("C", 4),
        factorial("D", 5),
    )
    print(L)

asyncio_c.run(main())
