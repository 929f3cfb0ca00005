# Seed: 000_b8708ff0c2d01ac1.txt (/work/shared/seeds/)
# Section: Running concurrently > Create multiple tasks (second block)
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# Notebook cell: top-level "await main()" becomes asyncio_c.run(main()).
# Expected: "Script executed in 1.00 seconds."
import time,asyncio
import asyncio_c

async def count():
    print("count one")
    await asyncio.sleep(1)
    print("count four")

async def count_further():
    print("count two")
    await asyncio.sleep(1)
    print("count five")

async def count_even_further():
    print("count three")
    await asyncio.sleep(1)
    print("count six")

async def main():
    await asyncio.gather(count(), count_further(), count_even_further())

s = time.perf_counter()
asyncio_c.run(main())  # seed: "await main()"
elapsed = time.perf_counter() - s
print(f"Script executed in {elapsed:0.2f} seconds.")
