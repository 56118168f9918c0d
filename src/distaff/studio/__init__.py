"""distaff studio: the web page served at `/studio`, built from `studio/` (React, the official
`@langchain/langgraph-sdk` and its `useStream` hook) into `dist/`, which ships in the package:
users need no Node.js. `npm run build` in `studio/` refreshes it."""

from pathlib import Path

DIST = Path(__file__).parent / "dist"
