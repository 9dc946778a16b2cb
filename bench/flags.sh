# bench/flags.sh: the flag parsing the bench scripts share. Source it after
# defining `die`, `usage` and `set_flag NAME VALUE` (which takes the
# script's own flags and dies on any other), then call `parse_flags "$@"`.
# Flags come as --name=value or --name value; --help prints the usage.

parse_flags() {
  local arg name value
  while (($# > 0)); do
    arg=$1
    case $arg in
      --*=*) name=${arg%%=*}; value=${arg#*=} ;;
      --help|-h) usage; exit 0 ;;
      --*) name=$arg; (($# >= 2)) || die "$arg needs a value"; value=$2; shift ;;
      *) die "unexpected argument: $arg (see --help)" ;;
    esac
    set_flag "$name" "$value"
    shift
  done
}

# int_in NAME VALUE MIN MAX: dies unless VALUE is an integer in MIN..MAX.
int_in() { [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) || die "$1 must be an integer in $3..$4, got '$2'"; }
