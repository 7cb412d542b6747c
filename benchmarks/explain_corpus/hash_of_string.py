"""Items put in buckets by hash()."""

buckets: dict[int, list[str]] = {0: [], 1: [], 2: []}
for word in ["apple", "banana", "cherry", "damson", "elder", "fig"]:
    bucket = hash(word) % 3  # cause: hash-seed
    buckets[bucket].append(word)
print(buckets)
