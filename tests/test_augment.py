"""ppt_book.augment: augmented copies keep words or mask them, and the plot sentences never carry a held-out movie."""

import numpy as np
import pandas as pd

from ppt_book.augment import augment, plot_sentences
from ppt_book.data import RT_FILE, load_rotten_tomatoes, normalize_text
from ppt_book.pretrained import asset_path


def test_augment_keeps_words_or_masks():
    rng = np.random.default_rng(0)
    out = [augment("the film is good", rng, {"good": ["great"]}, p_mask=0.3, p_sub=0.3, p_ngram=0) for _ in range(200)]
    vocab = {"the", "film", "is", "good", "great", "[MASK]"}
    assert (
        all(set(o.split()) <= vocab for o in out) and any("great" in o for o in out) and any("[MASK]" in o for o in out)
    )


def test_plot_sentences_never_take_a_held_out_movie():
    raw = pd.read_csv(asset_path(*RT_FILE))
    plots = raw[raw["category"] == "plot"]
    movie = plots["movie_name"].iloc[0]
    own = normalize_text(plots.loc[plots["movie_name"] == movie, "text"].iloc[0])
    everyone = plot_sentences([])
    assert all(4 <= len(s.split()) <= 40 for s in everyone)
    without = set(plot_sentences([movie]))
    assert {s for s in everyone if s not in without} and all(s in own for s in set(everyone) - without)
    dsd = load_rotten_tomatoes(0)
    held_out = set(dsd["validation"]["movie"]) | set(dsd["test"]["movie"])
    taken, theirs = plot_sentences(held_out), plot_sentences(set(plots["movie_name"]) - held_out)
    assert len(taken) > 1000 and not set(taken) & set(theirs)  # the transfer set never carries a held-out movie's plot
