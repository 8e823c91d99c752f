#include "boxes/vmdk_write.h"

#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "boxes/image.h"
#include "core/fsutil.h"

#define SECTOR 512ULL
#define GRAIN_SECTORS 128ULL /* 64 KiB grains, as VirtualBox writes */
#define GRAIN_BYTES (GRAIN_SECTORS * SECTOR)
#define GT_ENTRIES 512ULL
#define DESC_SECTORS 2ULL
#define MARKER_EOS 0
#define MARKER_GT 1
#define MARKER_GD 2
#define MARKER_FOOTER 3

struct __attribute__((packed)) sparse_header {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint64_t capacity;
	uint64_t grain_size;
	uint64_t desc_offset;
	uint64_t desc_size;
	uint32_t gtes_per_gt;
	uint64_t rgd_offset;
	uint64_t gd_offset;
	uint64_t overhead;
	uint8_t unclean;
	char nl[4];
	uint16_t compress;
	uint8_t pad[433];
};

struct writer {
	int fd;
	uint64_t sector; /* next free sector */
	struct err *e;
};

static int put(struct writer *w, const void *buf, size_t len)
{
	static const char zeros[SECTOR];
	size_t pad = (size_t)((SECTOR - len % SECTOR) % SECTOR);

	if (fs_pwrite_all(w->fd, buf, len, (off_t)(w->sector * SECTOR)) < 0 ||
	    (pad && fs_pwrite_all(w->fd, zeros, pad, (off_t)(w->sector * SECTOR + len)) < 0))
		return err_sys(w->e, "cannot write the VMDK");
	w->sector += (len + pad) / SECTOR;
	return 0;
}

/* A metadata marker: one sector {numSectors, size 0, type}, then its payload. */
static int put_marker(struct writer *w, uint64_t payload_sectors, uint32_t type)
{
	uint8_t m[SECTOR] = {0};
	uint64_t v = htole64(payload_sectors);
	uint32_t t = htole32(type);

	memcpy(m, &v, 8);
	memcpy(m + 12, &t, 4);
	return put(w, m, sizeof(m));
}

static void fill_header(struct sparse_header *h, uint64_t capacity, uint64_t gd)
{
	memset(h, 0, sizeof(*h));
	h->magic = htole32(0x564d444b); /* "KDMV" */
	h->version = htole32(3);
	/* valid newline test, compressed grains, markers */
	h->flags = htole32(1u | (1u << 16) | (1u << 17));
	h->capacity = htole64(capacity / SECTOR);
	h->grain_size = htole64(GRAIN_SECTORS);
	h->desc_offset = htole64(1);
	h->desc_size = htole64(DESC_SECTORS);
	h->gtes_per_gt = htole32((uint32_t)GT_ENTRIES);
	h->gd_offset = htole64(gd);
	h->overhead = htole64(GRAIN_SECTORS);
	memcpy(h->nl, "\n \r\n", 4);
	h->compress = htole16(1); /* deflate */
}

static int put_descriptor(struct writer *w, uint64_t capacity, const char *name)
{
	char d[DESC_SECTORS * SECTOR];
	uint64_t sectors = capacity / SECTOR, cyl = sectors / (16 * 63);
	int n;

	memset(d, 0, sizeof(d));
	n = snprintf(d, sizeof(d),
		     "# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\n"
		     "createType=\"streamOptimized\"\n\n# Extent description\n"
		     "RDONLY %llu SPARSE \"%s\"\n\n# The Disk Data Base\n#DDB\n\n"
		     "ddb.virtualHWVersion = \"4\"\nddb.adapterType = \"ide\"\n"
		     "ddb.geometry.cylinders = \"%llu\"\nddb.geometry.heads = \"16\"\n"
		     "ddb.geometry.sectors = \"63\"\n",
		     (unsigned)(capacity * 2654435761u), (unsigned long long)sectors, name,
		     (unsigned long long)(cyl > 16383 ? 16383 : cyl));
	if (n < 0 || (size_t)n >= sizeof(d))
		return err_set(w->e, ERR_FAIL, "VMDK descriptor too long");
	return put(w, d, sizeof(d));
}

/* Every non-zero grain of img as a grain marker; gt[] gets each one's sector. */
static int put_grains(struct writer *w, struct image *img, uint32_t *gt, uint64_t ngrains)
{
	uLong bound = compressBound((uLong)GRAIN_BYTES);
	uint8_t *in = malloc(GRAIN_BYTES), *out = malloc(12 + bound);
	uint64_t capacity = image_size(img);
	int rc = -1;

	if (!in || !out) {
		err_set(w->e, ERR_FAIL, "out of memory");
		goto done;
	}
	for (uint64_t g = 0; g < ngrains; g++) {
		uint64_t off = g * GRAIN_BYTES, len = capacity - off, pnum;
		uLongf clen = bound;
		uint64_t lba = htole64(g * GRAIN_SECTORS);
		uint32_t sz;
		bool zero, all_zero = true;

		if (len > GRAIN_BYTES)
			len = GRAIN_BYTES;
		/* runs the image says read as zero are never read, nor written; a long zero run
		 * (an empty disk of terabytes) is skipped whole, not grain by grain */
		for (uint64_t at = off; at < off + len; at += pnum) {
			if (image_block_status(img, at, capacity - at, &pnum, &zero, w->e) < 0)
				goto done;
			if (!zero) {
				all_zero = false;
				break;
			}
			if (at == off && pnum >= len) {
				g = (off + pnum) / GRAIN_BYTES - 1; /* the loop's g++ is the next grain */
				break;
			}
		}
		if (all_zero)
			continue;
		/* grain sectors are 32 bits in the grain table */
		if (w->sector > UINT32_MAX) {
			err_set(w->e, ERR_UNSUPPORTED,
				"a stream-optimized VMDK cannot hold this much data (grain at sector "
				"%llu)",
				(unsigned long long)w->sector);
			goto done;
		}
		memset(in, 0, GRAIN_BYTES);
		if (image_pread(img, in, (size_t)len, off, w->e) < 0)
			goto done;
		if (compress2(out + 12, &clen, in, (uLong)GRAIN_BYTES, Z_BEST_SPEED) != Z_OK) {
			err_set(w->e, ERR_FAIL, "cannot compress a VMDK grain");
			goto done;
		}
		sz = htole32((uint32_t)clen);
		memcpy(out, &lba, 8);
		memcpy(out + 8, &sz, 4);
		gt[g] = htole32((uint32_t)w->sector);
		if (put(w, out, 12 + clen) < 0)
			goto done;
	}
	rc = 0;
done:
	free(in);
	free(out);
	return rc;
}

int vmdk_write_stream(const char *src, const char *dst, uint64_t *size, struct err *e)
{
	struct writer w = {.fd = -1, .e = e};
	struct sparse_header h;
	struct image *img = NULL;
	uint32_t *gt = NULL, *gd = NULL;
	uint64_t capacity, ngrains, ngts, gd_sector, gd_sectors;
	const char *base = strrchr(dst, '/');
	int rc = -1;

	if (image_open(src, IMAGE_QCOW2, NULL, &img, e) < 0)
		return -1;
	/* VMDK sizes are whole sectors: round up as qemu-img does */
	capacity = (image_size(img) + SECTOR - 1) / SECTOR * SECTOR;
	ngrains = (capacity + GRAIN_BYTES - 1) / GRAIN_BYTES;
	ngts = (ngrains + GT_ENTRIES - 1) / GT_ENTRIES;
	if (capacity / SECTOR > UINT32_MAX) {
		err_set(e, ERR_UNSUPPORTED, "%s: a VMDK box disk may hold at most 2 TiB", src);
		goto out;
	}
	gt = calloc(ngts * GT_ENTRIES, sizeof(*gt));
	gd = calloc(ngts ? ngts : 1, sizeof(*gd));
	if (!gt || !gd) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	w.fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w.fd < 0) {
		err_sys(e, "cannot create %s", dst);
		goto out;
	}
	/* The header's directory is "at the end" (-1); the footer holds the real one. */
	fill_header(&h, capacity, UINT64_MAX);
	if (put(&w, &h, sizeof(h)) < 0 || put_descriptor(&w, capacity, base ? base + 1 : dst) < 0)
		goto out;
	w.sector = GRAIN_SECTORS;
	if (put_grains(&w, img, gt, ngrains) < 0)
		goto out;
	for (uint64_t t = 0; t < ngts; t++) {
		if (put_marker(&w, GT_ENTRIES * 4 / SECTOR, MARKER_GT) < 0)
			goto out;
		gd[t] = htole32((uint32_t)w.sector);
		if (put(&w, gt + t * GT_ENTRIES, GT_ENTRIES * 4) < 0)
			goto out;
	}
	gd_sectors = (ngts * 4 + SECTOR - 1) / SECTOR;
	if (put_marker(&w, gd_sectors, MARKER_GD) < 0)
		goto out;
	gd_sector = w.sector;
	if (put(&w, gd, ngts * 4) < 0 || put_marker(&w, 1, MARKER_FOOTER) < 0)
		goto out;
	fill_header(&h, capacity, gd_sector);
	if (put(&w, &h, sizeof(h)) < 0 || put_marker(&w, 0, MARKER_EOS) < 0)
		goto out;
	if (fsync(w.fd) < 0) {
		err_sys(e, "cannot write %s", dst);
		goto out;
	}
	*size = w.sector * SECTOR;
	rc = 0;
out:
	if (w.fd >= 0)
		close(w.fd);
	image_close(img);
	free(gt);
	free(gd);
	return rc;
}

char *vmdk_ovf(const char *name, const char *href, uint64_t file_size, uint64_t capacity)
{
	char *s;

	if (asprintf(
		    &s,
		    "<?xml version=\"1.0\"?>\n"
		    "<Envelope ovf:version=\"1.0\" xml:lang=\"en-US\" "
		    "xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "
		    "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" "
		    "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
		    "CIM_ResourceAllocationSettingData\" "
		    "xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
		    "CIM_VirtualSystemSettingData\" "
		    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
		    "  <References>\n"
		    "    <File ovf:id=\"file1\" ovf:href=\"%s\" ovf:size=\"%llu\"/>\n"
		    "  </References>\n"
		    "  <DiskSection>\n"
		    "    <Info>List of the virtual disks used in the package</Info>\n"
		    "    <Disk ovf:capacity=\"%llu\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" "
		    "ovf:format=\"http://www.vmware.com/interfaces/specifications/"
		    "vmdk.html#streamOptimized\"/>\n"
		    "  </DiskSection>\n"
		    "  <NetworkSection>\n"
		    "    <Info>Logical networks used in the package</Info>\n"
		    "    <Network ovf:name=\"NAT\"><Description>Logical network used by this "
		    "appliance.</Description></Network>\n"
		    "  </NetworkSection>\n"
		    "  <VirtualSystem ovf:id=\"%s\">\n"
		    "    <Info>A virtual machine</Info>\n"
		    "    <OperatingSystemSection ovf:id=\"96\">\n"
		    "      <Info>The kind of installed guest operating system</Info>\n"
		    "      <Description>Debian_64</Description>\n"
		    "    </OperatingSystemSection>\n"
		    "    <VirtualHardwareSection>\n"
		    "      <Info>Virtual hardware requirements for a virtual machine</Info>\n"
		    "      <System>\n"
		    "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
		    "        <vssd:InstanceID>0</vssd:InstanceID>\n"
		    "        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>\n"
		    "        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>\n"
		    "      </System>\n"
		    "      <Item><rasd:Caption>1 virtual "
		    "CPU</rasd:Caption><rasd:Description>Number "
		    "of virtual CPUs</rasd:Description><rasd:ElementName>1 virtual CPU"
		    "</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID>"
		    "<rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1"
		    "</rasd:VirtualQuantity></Item>\n"
		    "      <Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>"
		    "<rasd:Caption>1024 MB of memory</rasd:Caption><rasd:Description>Memory Size"
		    "</rasd:Description><rasd:ElementName>1024 MB of memory</rasd:ElementName>"
		    "<rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>"
		    "<rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>\n"
		    "      <Item><rasd:Address>0</rasd:Address><rasd:Caption>sataController0"
		    "</rasd:Caption><rasd:Description>SATA Controller</rasd:Description>"
		    "<rasd:ElementName>sataController0</rasd:ElementName><rasd:InstanceID>3"
		    "</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType>"
		    "<rasd:ResourceType>20</rasd:ResourceType></Item>\n"
		    "      <Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>"
		    "<rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption><rasd:Connection>NAT"
		    "</rasd:Connection><rasd:ElementName>Ethernet adapter on 'NAT'"
		    "</rasd:ElementName><rasd:InstanceID>4</rasd:InstanceID>"
		    "<rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10"
		    "</rasd:ResourceType></Item>\n"
		    "      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:Caption>disk1"
		    "</rasd:Caption><rasd:Description>Disk Image</rasd:Description>"
		    "<rasd:ElementName>disk1</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1"
		    "</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3"
		    "</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>\n"
		    "    </VirtualHardwareSection>\n"
		    "  </VirtualSystem>\n"
		    "</Envelope>\n",
		    href, (unsigned long long)file_size, (unsigned long long)capacity, name,
		    name) < 0)
		return NULL;
	return s;
}
