/* A 512-byte boot sector for envvmm's firmware boot tests (tests/integration/vmm_firmware.sh).
 * Loaded by the BIOS at 0x7c00 in real mode. It prints "envup-bootsector: ok drive=NN" on COM1,
 * reads the disk's second sector (LBA 1) through the BIOS (INT 13h) and prints the text the
 * test put there (so the test can tell this boot from any other), then:
 *   default:      resets the machine through the keyboard controller;
 *   -DPOWERBUTTON: enables the ACPI power-button event (PM1a at port 0x600, as envvmm's FADT
 *                 says), says "waiting for power button", and on the press powers off
 *                 through S5 (SLP_TYP 5, as envvmm's \_S5 says). */
	.code16
	.text
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7c00, %sp
	ljmp $0, $start2
start2:
	sti
	mov %dl, drive
	/* SeaBIOS's serial console writes the rest of its own output ("...\r\n" after "Booting
	 * from Hard Disk") from the timer interrupt: two ticks (18.2 Hz) first, so that it never
	 * lands inside the lines the tests look for. */
	mov 0x46c, %bx /* the BIOS data area's tick count */
wait_ticks:
	hlt
	mov 0x46c, %ax
	sub %bx, %ax
	cmp $2, %ax
	jb wait_ticks
	mov $msg_ok, %si
	call puts
	mov drive, %al
	call puthex
	mov $msg_nl, %si
	call puts

	/* INT 13h AH=02h: read 1 sector, cylinder 0, head 0, sector 2, to 0x8000 */
	mov $0x0201, %ax
	mov $0x0002, %cx
	xor %dh, %dh
	mov drive, %dl
	mov $0x8000, %bx
	int $0x13
	jc read_failed
	movb $0, 0x8000 + 80 /* the text is at most 80 bytes */
	mov $msg_lba1, %si
	call puts
	mov $0x8000, %si
	call puts
	mov $msg_nl, %si
	call puts
	jmp done_read
read_failed:
	mov $msg_readerr, %si
	call puts
done_read:

#ifdef POWERBUTTON
	mov $0x602, %dx /* PM1a_EN: PWRBTN_EN */
	mov $0x0100, %ax
	out %ax, %dx
	mov $msg_wait, %si
	call puts
wait_button:
	pause
	mov $0x600, %dx /* PM1a_STS: PWRBTN_STS */
	in %dx, %ax
	test $0x0100, %ax
	jz wait_button
	mov $msg_pressed, %si
	call puts
	mov $0x604, %dx /* PM1a_CNT: SLP_TYP 5, SLP_EN */
	mov $(5 << 10 | 1 << 13), %ax
	out %ax, %dx
#else
	mov $0xfe, %al /* i8042: pulse the reset line */
	out %al, $0x64
#endif
halt:
	cli
	hlt
	jmp halt

/* puts: the NUL-terminated string at DS:SI to COM1 (polled) */
puts:
	lodsb
	test %al, %al
	jz 1f
	call putc
	jmp puts
1:	ret

/* putc: AL to COM1 once the transmitter holds nothing */
putc:
	push %dx
	push %ax
	mov $0x3fd, %dx
2:	in %dx, %al
	test $0x20, %al
	jz 2b
	pop %ax
	mov $0x3f8, %dx
	out %al, %dx
	pop %dx
	ret

/* puthex: AL as two hex digits */
puthex:
	push %ax
	shr $4, %al
	call hexdigit
	pop %ax
	and $0x0f, %al
hexdigit:
	and $0x0f, %al
	add $'0', %al
	cmp $'9', %al
	jbe 3f
	add $('a' - '9' - 1), %al
3:	jmp putc

drive:		.byte 0
msg_ok:		.asciz "envup-bootsector: ok drive="
msg_nl:		.asciz "\r\n"
msg_lba1:	.asciz "envup-bootsector: lba1="
msg_readerr:	.asciz "envup-bootsector: INT 13h read failed\r\n"
#ifdef POWERBUTTON
msg_wait:	.asciz "envup-bootsector: waiting for power button\r\n"
msg_pressed:	.asciz "envup-bootsector: power button pressed, powering off\r\n"
#endif
	.org 510
	.byte 0x55, 0xaa
