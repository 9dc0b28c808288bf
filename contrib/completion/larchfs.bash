# SPDX-License-Identifier: MIT
# bash completion for larchfs, mkfs.larchfs, fsck.larchfs (and
# fsck.fuse.larchfs) and larchfs-stat.
#
# Installed as bash-completion's completions/larchfs, with the other names
# as symlinks to it: bash-completion loads a file by the name of the command
# being completed.  It needs only bash itself (no bash-completion helpers),
# so it can also be sourced from ~/.bashrc.  Words are taken as typed
# (no quotes inside them); names of stores and mount points complete as
# directories.

# The -o options of larchfs: its own, then libfuse's and the kernel's.
_larchfs_mount_opts="cache= flush_ms= compress= ro rw remount noatime relatime
	strictatime nodiratime diratime nowriteback iflags io_uring= io_uring_depth= allow_other allow_root auto_unmount fsname=
	subtype= dev nodev suid nosuid exec noexec sync dirsync async clone_fd
	max_threads= max_idle_threads= debug"

# The word being completed and the one before it, as typed: bash splits
# words at '=' and ':' too (COMP_WORDBREAKS), which would hide "-o" from
# "-o cache=1G,fl".
_larchfs_words() {
	local line=${COMP_LINE:0:COMP_POINT}
	_larchfs_cur=${line##*[[:space:]]}
	line=${line%"$_larchfs_cur"}
	line=${line%"${line##*[![:space:]]}"}
	_larchfs_prev=${line##*[[:space:]]}
}

# COMPREPLY for a comma-separated option list: completes the part after
# the last comma of bash's current word.  A choice ending in '=' wants a
# value, so no space goes after it.
_larchfs_optlist() {
	local cur=${COMP_WORDS[COMP_CWORD]} choices=$1
	local last=${cur##*,}
	local head=${cur%"$last"}
	[ "$cur" = "=" ] && { last="" head=""; }
	mapfile -t COMPREPLY < <(compgen -P "$head" -W "$choices" -- "$last")
	if [ ${#COMPREPLY[@]} -eq 1 ] && [ "${COMPREPLY[0]%=}" != "${COMPREPLY[0]}" ]; then
		compopt -o nospace 2>/dev/null
	fi
}

_larchfs_dirs() {
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -d -- "${COMP_WORDS[COMP_CWORD]}")
}

# larchfs [-f] [-d] [-s] [-o opts] STORE MOUNTPOINT
_larchfs() {
	_larchfs_words
	local cur=$_larchfs_cur
	if [ "$_larchfs_prev" = "-o" ]; then
		_larchfs_optlist "$_larchfs_mount_opts"
		return
	fi
	case $cur in
	-*) mapfile -t COMPREPLY < <(compgen -W "-f -d -s -o -h -V --help --version" -- "$cur") ;;
	*) _larchfs_dirs ;;
	esac
}

# mkfs.larchfs [-f] [-q] [-L label] [-b block-size] [-E opts] STORE
_mkfs_larchfs() {
	_larchfs_words
	local cur=$_larchfs_cur
	case $_larchfs_prev in
	-L) COMPREPLY=(); return ;;
	-b)
		mapfile -t COMPREPLY < <(compgen -W "4096 8192 16384 32768 65536 131072 262144
			524288 1048576" -- "$cur")
		return ;;
	-E) _larchfs_optlist "blob_threshold= compression="; return ;;
	esac
	case $cur in
	-*) mapfile -t COMPREPLY < <(compgen -W "-f -q -L -b -E -V -h" -- "$cur") ;;
	*) _larchfs_dirs ;;
	esac
}

# fsck.larchfs [-n|-y|-p|-a] [-f] [-v] [-C fd] [-m memory] STORE
_fsck_larchfs() {
	_larchfs_words
	local cur=$_larchfs_cur
	case $_larchfs_prev in
	-C) mapfile -t COMPREPLY < <(compgen -W "0" -- "$cur"); return ;;
	-m) mapfile -t COMPREPLY < <(compgen -W "64M 256M 1G 4G" -- "$cur"); return ;;
	esac
	case $cur in
	-*) mapfile -t COMPREPLY < <(compgen -W "-n -y -p -a -f -v -C -m -h" -- "$cur") ;;
	*) _larchfs_dirs ;;
	esac
}

# larchfs-stat [--json|--prometheus] STORE
# larchfs-stat --mounted [--json|--prometheus|-w SECONDS [-c COUNT]] MOUNTPOINT
_larchfs_stat() {
	_larchfs_words
	local cur=$_larchfs_cur mnts
	case $_larchfs_prev in
	-w|-i|-c|--watch|--interval|--count) COMPREPLY=(); return ;;   # a number
	esac
	case $cur in
	-*)
		mapfile -t COMPREPLY < <(compgen -W "--mounted --json --prometheus -w -i -c -h" \
			-- "$cur")
		return
		;;
	esac
	case " ${COMP_LINE:0:COMP_POINT} " in
	*" --mounted "*)
		# the larchfs mounts; /proc/mounts writes a space as \040
		mnts=$(awk '$3 == "fuse.larchfs" { gsub(/\\040/, " ", $2); print $2 }' \
			/proc/mounts 2>/dev/null)
		local IFS=$'\n'
		mapfile -t COMPREPLY < <(compgen -W "$mnts" -- "$cur")
		[ ${#COMPREPLY[@]} -gt 0 ] || _larchfs_dirs
		;;
	*) _larchfs_dirs ;;
	esac
}

complete -F _larchfs larchfs
complete -F _mkfs_larchfs mkfs.larchfs
complete -F _fsck_larchfs fsck.larchfs fsck.fuse.larchfs
complete -F _larchfs_stat larchfs-stat
