# path_hint DIR: say so (on stdout) when DIR is not on PATH, and how to add it. Sourced by install.sh.
path_hint() {
  local dir="${1%/}" rc entry
  local IFS=:
  for entry in $PATH; do
    [ "${entry%/}" = "$dir" ] && return 0
  done
  unset IFS
  case "$(basename "${SHELL:-bash}")" in
    zsh) rc="~/.zshrc" ;;
    fish) echo "note: $dir is not on your PATH, so typing \`mailmig\` will not find it yet."
          echo "      add it with:  fish_add_path $dir"
          return 0 ;;
    *) rc="~/.bashrc" ;;
  esac
  echo "note: $dir is not on your PATH, so typing \`mailmig\` will not find it yet."
  echo "      add it with:  echo 'export PATH=\"$dir:\$PATH\"' >> $rc   then open a new shell"
  echo "      (or run it as $dir/mailmig meanwhile)"
}
