/* Entry points of the test-kit guest: the Linux 64-bit boot protocol entry (rsi = zero page),
 * the PVH entry (32-bit flat, ebx = hvm_start_info) and the AP trampoline (real mode). */
#define MSR_EFER 0xc0000080

	.section .head, "ax"
	.code32
	.globl _start32
_start32:			/* 32-bit boot protocol entry: not used by envvmm */
1:	hlt
	jmp 1b

	.org 0x200
	.code64
	.globl startup_64
startup_64:			/* load address + 0x200 */
	cli
	lea stack_top(%rip), %rsp
	mov $1, %edi
	call kit_main
	jmp kit_halt

/* 32-bit paging-off to long mode, with cr3 in %eax; ends in 64-bit code at label \to. */
.macro enter_long_mode to
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax		/* PAE */
	mov %eax, %cr4
	mov $MSR_EFER, %ecx
	rdmsr
	or $0x100, %eax		/* LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax	/* PG | PE */
	mov %eax, %cr0
	lgdt kit_gdt_ptr
	ljmp $0x10, $\to
.endm

	.code32
	.globl pvh_start
pvh_start:
	cli
	mov %ebx, %esi
	mov $stack_top, %esp
	/* Identity-map 4 GiB with 2 MiB pages: pd[i] = i << 21 | present, writable, large. */
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %eax, kit_pd(,%ecx,8)
	inc %ecx
	cmp $2048, %ecx
	jne 1b
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $12, %eax
	add $kit_pd, %eax
	or $3, %eax
	mov %eax, kit_pdpt(,%ecx,8)
	inc %ecx
	cmp $4, %ecx
	jne 2b
	mov $kit_pdpt, %eax
	or $3, %eax
	mov %eax, kit_pml4
	mov $kit_pml4, %eax
	enter_long_mode pvh_64
	.code64
pvh_64:
	mov $0x18, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %esi, %esi
	lea stack_top(%rip), %rsp
	mov $2, %edi
	call kit_main
	.globl kit_halt
kit_halt:
	cli
	hlt
	jmp kit_halt

/* Application processors start here in real mode after INIT/SIPI, from a copy at a page
 * below 1 MiB (CS = that page >> 4). */
	.code16
	.globl kit_ap_tramp, kit_ap_tramp_end
kit_ap_tramp:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (kit_ap_gdtr - kit_ap_tramp)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $ap_32
kit_ap_gdtr:
	.word kit_gdt_end - kit_gdt - 1
	.long kit_gdt
kit_ap_tramp_end:

	.code32
ap_32:
	mov $0x18, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov kit_ap_cr3, %eax
	enter_long_mode ap_64
	.code64
ap_64:
	mov $0x18, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $1, %eax
	lock xadd %eax, kit_ap_next(%rip)
	inc %eax
	shl $12, %eax
	lea kit_ap_stacks(%rip), %rsp
	add %rax, %rsp
	call kit_ap_main
	jmp kit_halt

	.section .rodata
	.align 8
	.globl kit_gdt, kit_gdt_end
kit_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x08 code32 */
	.quad 0x00af9b000000ffff	/* 0x10 code64 */
	.quad 0x00cf93000000ffff	/* 0x18 data */
kit_gdt_end:
	.align 8
kit_gdt_ptr:
	.word kit_gdt_end - kit_gdt - 1
	.long kit_gdt

	/* PVH: XEN_ELFNOTE_PHYS32_ENTRY (18) names the 32-bit entry. */
	.section .note.pvh, "a"
	.align 4
	.long 4
	.long 4
	.long 18
	.asciz "Xen"
	.long pvh_start

	.section .bss
	.align 4096
	.globl kit_pml4, kit_pdpt, kit_pd
kit_pml4: .skip 4096
kit_pdpt: .skip 4096
kit_pd:	.skip 4 * 4096
	.globl kit_ap_stacks
kit_ap_stacks: .skip 9 * 4096	/* room for 8 APs (slot 0 unused) */
stack:	.skip 16384
stack_top:
	.section .data
	.align 8
	.globl kit_ap_next, kit_ap_cr3
kit_ap_next: .long 0
kit_ap_cr3: .long 0

	.section .note.GNU-stack, "", @progbits
