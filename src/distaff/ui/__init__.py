"""Generative UI: bundling each graph's React components (`ui` in langgraph.json) with esbuild.

`build.py` installs the bundler (`bundler/`: esbuild pinned by its lockfile, and `build.mjs`)
into distaff's cache and runs it; `services/ui.py` reads what it wrote and `api/ui.py` serves it.
"""
