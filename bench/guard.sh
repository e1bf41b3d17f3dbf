# Sourced by the benchmark scripts that empty tables (bench/guard.rs checks the same in the
# benchmark itself). require_bench_database URL [VARIABLE]: exits 2 unless the database URL
# names (its path, or a dbname parameter) contains "bench"; VARIABLE (default DATABASE_URL) is
# the setting to change. Only the name is printed, never the URL.
require_bench_database() {
  local url=$1 variable=${2:-DATABASE_URL} name
  name=${url%%\?*}
  name=${name#*://}
  case "$name" in */*) name=${name#*/} ;; *) name= ;; esac
  case "$url" in
    *\?dbname=*|*\&dbname=*) name=${url##*dbname=}; name=${name%%&*} ;;
  esac
  case "$name" in
    *bench*) ;;
    *)
      echo "refusing to run: this benchmark empties tables of database '$name'; point" \
        "$variable at a scratch database whose name contains 'bench'" >&2
      exit 2
      ;;
  esac
}
