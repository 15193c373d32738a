import os

import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

TEXT = ["the quick brown fox jumps over the lazy dog", "the lazy dog sleeps", "quick quick fox"] * 20


def run(tmp):
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=60, special_tokens=["[UNK]"]))
    path = os.path.join(tmp, "tokenizer.json")
    tok.save(path)
    again = Tokenizer.from_file(path)
    enc = again.encode("the quick dog")
    assert again.decode(enc.ids).replace(" ", "") == "thequickdog"
    return f"tokenizers {tokenizers.__version__}: {enc.tokens}"
