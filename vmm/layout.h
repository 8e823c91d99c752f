/* Guest physical address map of the machine envvmm builds. */
#ifndef ENVUP_VMM_LAYOUT_H
#define ENVUP_VMM_LAYOUT_H

#define LAYOUT_GDT 0x500ULL	    /* boot GDT: null, code32, code64, data */
#define LAYOUT_BOOT_INFO 0x7000ULL  /* zero page or hvm_start_info */
#define LAYOUT_PVH_MEMMAP 0x7800ULL /* hvm_memmap_table_entry[] */
#define LAYOUT_PML4 0x9000ULL	    /* identity map of the low 4 GiB, 2 MiB pages */
#define LAYOUT_PDPT 0xa000ULL
#define LAYOUT_PD 0xb000ULL /* four page directories */
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX 4096
#define LAYOUT_EBDA 0x9fc00ULL /* reserved from here to 1 MiB */
#define LAYOUT_ACPI 0xe0000ULL /* RSDP and tables, inside the BIOS area */
#define LAYOUT_ACPI_SIZE 0x10000ULL
#define LAYOUT_MPTABLE 0xf0000ULL /* MP floating pointer and configuration table */
#define LAYOUT_MPTABLE_SIZE 0x10000ULL
#define LAYOUT_HIGH 0x100000ULL /* kernels load here */

#define LAYOUT_MMIO_HOLE 0xc0000000ULL /* RAM stops here below 4 GiB ... */
#define LAYOUT_4G 0x100000000ULL       /* ... and goes on here */
#define LAYOUT_PCI_MMIO 0xe0000000ULL  /* BARs are placed from here */
#define LAYOUT_PCI_MMIO_END 0xfec00000ULL
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL

#define LAYOUT_PM_IO 0x600 /* ACPI PM1a event (4 bytes) and control (2 bytes) */

#endif
