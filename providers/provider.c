/* The provider registry and the choice of a provider for a machine. A new provider is one
 * line in the table below and one in providers/ops.c (its lifecycle operations). */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/strutil.h"
#include "providers/local.h"
#include "providers/provider.h"
#include "providers/qemu.h"
#include "providers/static.h"
#include "providers/vmm.h"

/* The light halves of the local hypervisors' providers: here rather than in qemu.c and vmm.c,
 * whose up code pulls the image library and the box store into whatever links them. */
const struct provider provider_qemu = {
	.name = "qemu",
	.caps = PROVIDER_CAP_BOX | PROVIDER_CAP_PORT_FORWARD | PROVIDER_CAP_GRACEFUL_HALT |
		PROVIDER_CAP_LIVE_SHARE | PROVIDER_CAP_SHARE_OWNERS,
	.state = local_state,
	.ssh_info = local_ssh_info,
};

const struct provider provider_vmm = {
	.name = "vmm",
	.caps = PROVIDER_CAP_BOX | PROVIDER_CAP_PORT_FORWARD | PROVIDER_CAP_GRACEFUL_HALT |
		PROVIDER_CAP_LIVE_SHARE,
	.state = local_state,
	.ssh_info = local_ssh_info,
};

static const struct provider *const providers[] = {
	&provider_static,
	&provider_qemu,
	&provider_vmm,
};
#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

/* Names the Envfile accepts whose provider may not be built in yet. */
static const char *const known_names[] = {"vmm", "qemu", "static"};

/* noinline: inlined with a constant name, gcc 12 misreads the array bound (-Wstring-compare). */
static __attribute__((noinline)) bool known_provider(const char *name)
{
	for (size_t i = 0; i < sizeof(known_names) / sizeof(known_names[0]); i++)
		if (!strcmp(known_names[i], name))
			return true;
	return false;
}

const struct provider *provider_lookup(const char *name)
{
	for (size_t i = 0; i < NPROVIDERS; i++)
		if (!strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}

/* /dev/kvm opens and the CPU advertises VT-x or AMD-V (a KVM without them, such as PVM, runs
 * ordinary guests through the slow instruction emulator). CPUID rather than /proc/cpuinfo:
 * envstatus asks this for every machine and must stay fast. */
bool provider_hardware_virt(void)
{
	unsigned a, b, c, d;
	bool hw = false;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
#if defined(__x86_64__) || defined(__i386__)
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 5)))
		hw = true; /* VMX */
	if (__get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 2)))
		hw = true; /* SVM */
#else
	hw = true; /* other architectures: a /dev/kvm that opens is hardware virtualization */
#endif
	return hw;
}

int provider_for_machine(const struct machine *m, const char *override, const struct provider **out,
			 const char **notice, struct err *e)
{
	const char *name = override && *override ? override : m->provider;
	const char *chosen = name, *why = "";
	if (notice)
		*notice = NULL;
	*out = NULL;
	if (!name || !strcmp(name, "auto")) {
		bool hw = provider_hardware_virt();

		chosen = hw ? "vmm" : "qemu";
		why = hw ? " (chosen automatically: hardware virtualization)"
			 : " (chosen automatically: no hardware virtualization)";
		if (notice && !strcmp(chosen, "qemu"))
			*notice = "no hardware virtualization here: qemu emulates in software, "
				  "which is slow";
	}
	*out = provider_lookup(chosen);
	if (*out)
		return 0;
	if (known_provider(chosen))
		return err_set(e, ERR_UNSUPPORTED,
			       "machine '%s': provider '%s'%s is not available in this build yet "
			       "(available: static, qemu, vmm)",
			       m->name, chosen, why);
	{
		const char *s = str_suggest(chosen, known_names,
					    sizeof(known_names) / sizeof(known_names[0]));

		return err_set(e, ERR_USAGE, "machine '%s': unknown provider '%s'%s%s%s", m->name,
			       chosen, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
	}
}

int provider_folder_how(const struct provider *pv, const struct machine *m,
			const struct synced_folder *f, enum folder_how *out, const char **why,
			struct err *e)
{
	bool live = pv->caps & PROVIDER_CAP_LIVE_SHARE;

	*out = FOLDER_SKIP;
	*why = "disabled";
	if (f->disabled)
		return 0;
	switch (f->type) {
	case FOLDER_RSYNC:
		*out = FOLDER_BY_RSYNC;
		*why = "rsync";
		return 0;
	case FOLDER_9P:
		if (!live)
			return err_set(e, ERR_UNSUPPORTED,
				       "machine '%s': synced folder %s has type 9p, but provider "
				       "'%s' cannot share folders live; use type rsync (or auto)",
				       m->name, f->guest, pv->name);
		*out = FOLDER_BY_PROVIDER;
		*why = "9p, shared live by the provider";
		return 0;
	case FOLDER_AUTO: break;
	}
	*out = live ? FOLDER_BY_PROVIDER : FOLDER_BY_RSYNC;
	*why = live ? "auto: 9p, the provider shares live"
		    : "auto: rsync, the provider cannot share live";
	return 0;
}

int provider_ctx_init(struct provider_ctx *c, const struct env *env, const struct machine *m,
		      const struct project *p, struct err *e)
{
	memset(c, 0, sizeof(*c));
	c->env = env;
	c->m = m;
	c->proj = p;
	c->machine_dir = project_machine_dir(p, m->name);
	if (!c->machine_dir)
		return err_set(e, ERR_FAIL, "out of memory");
	return 0;
}

void provider_ctx_free(struct provider_ctx *c)
{
	free((char *)c->machine_dir);
	c->machine_dir = NULL;
}

static const char *const status_names[] = {
	[MACHINE_NOT_CREATED] = "not_created", [MACHINE_RUNNING] = "running",
	[MACHINE_HALTED] = "halted",	       [MACHINE_SUSPENDED] = "suspended",
	[MACHINE_ABORTED] = "aborted",
};

const char *machine_status_name(enum machine_status s)
{
	return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s]
									    : "unknown";
}

static int status_from_name(const char *name, enum machine_status *out)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(status_names[i], name)) {
			*out = (enum machine_status)i;
			return 0;
		}
	return -1;
}

int provider_record_state(const struct provider_ctx *c, const char *provider, enum machine_status s,
			  struct err *e)
{
	struct json_object *st = NULL;
	char *dir = NULL;
	int rc = -1;

	if (project_machine_dir_create(c->proj, c->m->name, &dir, e) < 0)
		return -1;
	if (machine_state_load(dir, &st, e) < 0)
		goto out;
	json_object_object_add(st, "state", json_object_new_string(machine_status_name(s)));
	if (provider)
		json_object_object_add(st, "provider", json_object_new_string(provider));
	rc = machine_state_save(dir, st, e);
out:
	json_object_put(st);
	free(dir);
	return rc;
}

int provider_recorded_state(const struct provider_ctx *c, enum machine_status *out, struct err *e)
{
	struct json_object *st = NULL, *v;
	int rc = 0;

	*out = MACHINE_NOT_CREATED;
	if (!fs_exists(c->machine_dir))
		return 0;
	if (machine_state_load(c->machine_dir, &st, e) < 0)
		return -1;
	if (json_object_object_get_ex(st, "state", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    status_from_name(json_object_get_string(v), out) < 0)
		rc = err_set(e, ERR_CORRUPT, "%s/state.json: unknown state '%s'", c->machine_dir,
			     json_object_get_string(v));
	json_object_put(st);
	return rc;
}

int provider_of_existing(const struct provider_ctx *c, const struct provider **out, struct err *e)
{
	struct json_object *st = NULL, *v;
	int rc = 1;

	if (fs_exists(c->machine_dir)) {
		if (machine_state_load(c->machine_dir, &st, e) < 0)
			return -1;
		if (json_object_object_get_ex(st, "provider", &v) &&
		    json_object_is_type(v, json_type_string)) {
			*out = provider_lookup(json_object_get_string(v));
			rc = *out ? 0
				  : err_set(e, ERR_UNSUPPORTED,
					    "machine '%s' was created by provider '%s', which this "
					    "build does not have",
					    c->m->name, json_object_get_string(v));
		}
		json_object_put(st);
	}
	if (rc <= 0)
		return rc;
	return provider_for_machine(c->m, NULL, out, NULL, e);
}

int provider_machine_status(const struct provider_ctx *c, enum machine_status *out, struct err *e)
{
	const struct provider *p;

	*out = MACHINE_NOT_CREATED;
	if (!fs_exists(c->machine_dir))
		return 0;
	if (provider_of_existing(c, &p, e) < 0)
		return -1;
	return p->state(c, out, e);
}
