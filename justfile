# kiln's tasks. `just` alone lists them; `just build` runs the whole pipeline.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Prefer the project's own virtual environment when there is one.
export PATH := justfile_directory() / ".venv/bin" + ":" + env_var("PATH")

_default:
    @just --list

# Generate what is new, then render the gallery into build/
build: run site

# Generate every job that has no image yet (all recipes, or the ones named)
run *RECIPES:
    kiln run {{RECIPES}}

# Render the static gallery into build/
site:
    kiln build

# Serve the gallery on 127.0.0.1 with culling on; run and rebuild when recipes, templates or the store change
serve:
    kiln serve --watch

# Open the store in Datasette on 127.0.0.1
datasette:
    kiln datasette

# Run the test suite
test *ARGS:
    pytest {{ARGS}}

# Run the benchmarks and print their figures (installs sigal, the peer they compare with)
bench:
    python -m pip install -q -e '.[bench]'
    python bench/run.py
    python bench/doctor.py

# Remove the rendered gallery (the images in art/ are kept)
clean:
    find build -mindepth 1 ! -name .gitkeep -delete
