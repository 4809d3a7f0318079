"""The gemini kind: Google's gemini CLI (@google/gemini-cli) in headless stream-json mode."""
