# Sourced by the firmware test and benchmark. grub_disk DIR TOKEN: makes DIR/grub.raw, an MBR
# disk whose boot code and core image are Debian's GRUB (grub-pc-bin, as grub-install lays
# them out) and whose ext4 partition (mkfs.ext4 -d) holds a grub.cfg that writes
# "envup-grub: TOKEN from hd0,msdos1" on COM1 and powers off (GRUB's halt, through ACPI).
# Extra grub.cfg lines may come on stdin (before the halt).
grub_disk() {
	local dir=$1 token=$2 src
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	mkdir -p "$dir/root/boot/grub"
	{
		echo "serial --port=0x3f8 --speed=115200"
		echo "terminal_input serial"
		echo "terminal_output serial"
		echo "echo \"envup-grub: $token from \$root\""
		[ -t 0 ] || cat
		echo "halt"
	} >"$dir/root/boot/grub/grub.cfg"
	mkfs.ext4 -q -F -d "$dir/root" -L envup-root "$dir/part.img" "${GRUB_DISK_MB:-16}M" >/dev/null &&
		grub-mkimage -O i386-pc -o "$dir/core.img" -p '(hd0,msdos1)/boot/grub' \
			biosdisk part_msdos ext2 normal serial echo halt linux &&
		python3 "$src/mbr_disk.py" "$dir/grub.raw" /usr/lib/grub/i386-pc/boot.img \
			"$dir/core.img" "$dir/part.img"
}
