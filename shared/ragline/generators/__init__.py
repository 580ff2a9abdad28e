"""Generators: adapters of the :class:`ragline.ports.Generator` port, which answer from numbered sources.

- :mod:`ragline.generators.extractive`: :class:`ExtractiveGenerator`, no LLM; quotes the source sentences
  that best cover the question, each followed by its ``[n]`` marker. The local default.
- :mod:`ragline.generators.bedrock`: :class:`BedrockGenerator`, an LLM on Amazon Bedrock through the
  Converse API, with the grounded prompt of :mod:`ragline.generators.prompt`.
- :mod:`ragline.generators.openai`: :class:`OpenAIChatGenerator`, any chat model behind an OpenAI-compatible
  API (Ollama, llama.cpp's server, vLLM, LM Studio, OpenAI), with the same prompt.

Each adapter lives in its own module and imports what it needs itself, so importing this package costs
nothing.
"""
