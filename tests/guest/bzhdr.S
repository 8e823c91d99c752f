/* The bzImage setup header (Documentation/arch/x86/boot.rst), for the test-kit guest.
 * One setup sector; the protected-mode part follows at file offset 0x400. */
	.section .bzhdr, "a"
	.code16
	.org 0x1f1
	.byte 1			/* setup_sects */
	.word 0			/* root_flags */
	.long kit_syssize	/* syssize, 16-byte units */
	.word 0			/* ram_size */
	.word 0xffff		/* vid_mode */
	.word 0			/* root_dev */
	.word 0xaa55		/* boot_flag */
	.byte 0xeb, 0x66	/* jump: the header ends at 0x268 */
	.ascii "HdrS"
	.word 0x020f		/* version 2.15 */
	.long 0			/* realmode_swtch */
	.word 0			/* start_sys_seg */
	.word 0			/* kernel_version */
	.byte 0			/* type_of_loader */
	.byte 1			/* loadflags: LOADED_HIGH */
	.word 0			/* setup_move_size */
	.long 0x100000		/* code32_start */
	.long 0			/* ramdisk_image */
	.long 0			/* ramdisk_size */
	.long 0			/* bootsect_kludge */
	.word 0			/* heap_end_ptr */
	.byte 0, 0		/* ext_loader_ver, ext_loader_type */
	.long 0			/* cmd_line_ptr */
	.long 0x01ffffff	/* initrd_addr_max: 32 MiB, so the kit can see it honoured */
	.long 0x100000		/* kernel_alignment */
	.byte 0			/* relocatable_kernel */
	.byte 0			/* min_alignment */
	.word 1			/* xloadflags: XLF_KERNEL_64 */
	.long 2047		/* cmdline_size */
	.long 0			/* hardware_subarch */
	.quad 0			/* hardware_subarch_data */
	.long 0, 0		/* payload_offset, payload_length */
	.quad 0			/* setup_data */
	.quad 0x100000		/* pref_address */
	.long kit_init_size	/* init_size */
	.long 0			/* handover_offset */
	.long 0			/* kernel_info_offset */
	.org 0x400

	.section .note.GNU-stack, "", @progbits
