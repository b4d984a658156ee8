"""LightRNN's bootstrap (paper section 3.2), everything of it that knows the
model: where a word table comes from (start.py), the loss tables read off the
model (passes.py), one reallocation round (round.py, rows_first.py) and the
policy after a move. The assignment solver it calls, models/realloc, knows no
model and never imports this package.
"""
