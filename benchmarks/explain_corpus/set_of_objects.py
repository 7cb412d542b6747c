"""A set of plain objects, walked in the order of their addresses."""


class Job:
    def __init__(self, name: str) -> None:
        self.name = name


jobs = {Job(name) for name in "abcdefgh"}
done = []
for job in jobs:  # cause: address
    done.append(job.name)
print("".join(done))
