# Sourced by demo.sh and test.sh. Sets `launcher` to the CMake arguments that route compiles
# through ccache when it is installed: rebuilds of an unchanged tree become cheap, also from a
# fresh clone, because CCACHE_BASEDIR turns absolute paths under the checkout into relative
# ones before hashing.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$(pwd)" CCACHE_NOHASHDIR=true
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
