# Seed: 001_1bb1baf10662b436.txt (/work/shared/seeds/)
# Section: A minimum example
# Unchanged but for the loop choice: asyncio.run(main()) -> asyncio_c.run(main())
# (plus "import asyncio_c").
# REPL transcript in the seed: the ">>> " prompt and the echoed output are dropped.
# Expected: One One One, then (+1 s) Two Two Two.
import asyncio
import asyncio_c

async def worker():
  print("One")
  await asyncio.sleep(1)
  print("Two")

async def main():
  await asyncio.gather(worker(), worker(), worker())

asyncio_c.run(main())  # seed: ">>> asyncio.run(main())"
