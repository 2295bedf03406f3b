"""Pieces shared by the studies, written once: option parsing from config dataclasses, train/test
splits, per-layer scoring rows, answering and sampling with a KV cache, verbal confidence,
HTML reports and their headless-browser rendering."""
