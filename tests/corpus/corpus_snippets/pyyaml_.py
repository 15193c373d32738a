import os

import yaml


def run(tmp):
    data = {"name": "corpus", "items": [1, 2.5, None, True], "nested": {"ü": "ß"}}
    path = os.path.join(tmp, "data.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(data, f, Dumper=yaml.CSafeDumper, allow_unicode=True)  # libyaml's C emitter
    with open(path, encoding="utf-8") as f:
        back = yaml.load(f, Loader=yaml.CSafeLoader)
    assert back == data
    return f"pyyaml {yaml.__version__} (libyaml {yaml.__with_libyaml__}): round trip"
