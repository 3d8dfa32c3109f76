# Sourced by scripts/fuzz and scripts/memcheck: test_venv DIR makes a CPython
# 3.12 (else python3) virtual environment in DIR with this checkout's zloop
# and the fuzz suite's test packages, and prints its python.
test_venv() {
    local dir=$1 base py=python3 candidate
    base=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for candidate in "$base"/versions/3.12.*/bin/python3.12 "$(command -v python3.12 || true)"; do
        if [ -x "$candidate" ]; then py=$candidate; break; fi
    done
    "$py" -m venv "$dir" >&2
    "$dir/bin/python" -m pip install --quiet --upgrade pip >&2
    "$dir/bin/python" -m pip install --quiet . pytest pytest-timeout hypothesis >&2
    echo "$dir/bin/python"
}
