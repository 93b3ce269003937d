"""The ``placeholder`` engine: procedural pictures drawn from the prompt, no AI model.

It exists so that kiln works out of the box: recipes build, galleries fill and every part of
the pipeline can be tried without weights or a GPU. The pictures are meant to look like a
small, varied art gallery rather than test patterns, so the prompt's words drive them:

* colour and mood words (``crimson``, ``arctic``, ``sunset``, ``neon``, ``pastel``, ``noir``,
  ``dark``, ...) pick the palette; a prompt that names none still gets a palette of its own,
  derived from its hash with a harmonious hue scheme;
* scene words pick the composition: landscapes (mountains, hills, dunes, fields, lakes, sea,
  forests, cities, a synthwave grid), space, abstract geometry, marbling and silk, flowers,
  a koi pond; subject words (``portrait``, ``sailor``, ``fox``, ``cat``, ``owl``, ...) add a
  figure;
* style words (``oil``, ``watercolor``, ``ink``, ``etching``, ``chalk``, ``pixel``,
  ``film``, ``noir``, ``vaporwave``, ``minimal``, ``halftone``, ``mosaic``,
  ``illustration``) change how it is rendered;
* the negative prompt takes things away: a colour word steers the palette off that hue,
  ``blurry`` sharpens, ``dark`` lightens, ``fog``/``stars``/``sun``/``clouds``/... drop that
  motif, a style word drops that style;
* the seed moves everything that is not named: positions, ridge shapes, counts, tints;
  ``guidance`` scales contrast and saturation (5 is neutral), ``steps`` adds detail (more
  noise octaves, more stars, a crisper finish; very few steps give a soft picture), the
  model name nudges hue and grain, and the sampler changes the grain.

Rendering is plain numpy and Pillow. Every random choice comes from a
``numpy.random.Generator(PCG64(...))`` seeded with a SHA-256 of the request (never
``hash()``, which varies with PYTHONHASHSEED), one stream per purpose, so the same request
gives the same pixels and adding detail to one part of the picture never reshuffles another.
"The same pixels" holds for one installation: a different numpy or Pillow version, or a CPU
with different SIMD paths, may round a few values differently. Pictures are painted at a
reduced internal resolution (about 0.45 megapixels) and resampled to exactly the requested
size.

Progress is reported like a diffusion engine: ``conditioning`` (reading the prompt and
planning the picture), then ``sampling`` once per step 1..steps (each step paints the next
layers, back to front; the steps left over refine the picture, one band of rows each), then
``saving`` (resampling to the output size, pixelating for pixel art, adding grain).

Requests are checked: width and height must be 64..4096, steps 1..200 and guidance a finite
number, otherwise :class:`EngineError` with code ``INVALID_REQUEST``. A prompt containing the
word ``_fail_`` fails on purpose with code ``GENERATION_FAILED`` (not retryable), so tests
of the runner can simulate an engine failure.

The package, in the order a request passes through it: ``reading`` (what the prompt names, with
the words in ``vocabulary``) and ``planning`` (the layers to paint, each drawing from its own
stream of ``seeding``); the painters of what is in the picture, ``skies``, ``ground``,
``figures``, ``space``, ``abstract``, ``flow`` and ``flowers``, and of how it is rendered,
``styles``, all working on a ``canvas`` with ``colour`` and ``noise``; then ``engine``, which
checks the request, paints the plan over the steps and saves the picture.
"""

from kiln.engines.placeholder.engine import FAIL_WORD, PlaceholderEngine

__all__ = ["FAIL_WORD", "PlaceholderEngine"]
