"""A set of words printed as a list."""

words = {"red", "green", "blue", "cyan", "magenta", "yellow"}
print(list(words))  # cause: hash-seed
