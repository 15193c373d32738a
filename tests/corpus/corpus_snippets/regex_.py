import os

import regex


def run(tmp):
    fuzzy = regex.search(r"(?:colour){e<=1}", "my color is red")  # one edit allowed
    words = regex.findall(r"\p{Lu}\p{Ll}+", "Zürich and Ödön met Ångström")
    graphemes = regex.findall(r"\X", "e\u0301a")
    path = os.path.join(tmp, "words.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(words))
    assert fuzzy.group() == "color" and words == ["Zürich", "Ödön", "Ångström"] and len(graphemes) == 2
    return f"regex {regex.__version__}: {words}"
