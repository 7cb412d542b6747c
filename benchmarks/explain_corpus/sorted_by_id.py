"""Objects put in buckets by id()."""


class Layer:
    def __init__(self, name: str) -> None:
        self.name = name


layers = [Layer(name) for name in ("conv", "relu", "pool", "fc")]
buckets = {layer.name: id(layer) % 7 for layer in layers}  # cause: address
print(buckets)
