/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-machine.h"

#include "lab-interface.h"
#include "lab-netns.h"

struct _LabMachine {
  GObject parent_instance;

  char *name;
  LabMachineSource source;
  LabNetns *netns;
  char *klass;
  GPid leader;
  guint64 netns_inode;
  gboolean shares_host_network;
  GPtrArray *interfaces; /* LabInterface, or NULL until loaded */
};

G_DEFINE_FINAL_TYPE (LabMachine, lab_machine, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_SOURCE,
  PROP_NETNS,
  PROP_CLASS,
  PROP_LEADER,
  PROP_NETNS_INODE,
  PROP_SHARES_HOST_NETWORK,
  PROP_INTERFACES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The header declares no GType for the enum, so the property registers its own. */
static GType
lab_machine_source_get_type (void)
{
  static gsize type;

  if (g_once_init_enter (&type))
    {
      static const GEnumValue values[] = {
        { LAB_MACHINE_HOST, "LAB_MACHINE_HOST", "host" },
        { LAB_MACHINE_MACHINED, "LAB_MACHINE_MACHINED", "machined" },
        { LAB_MACHINE_NETNS, "LAB_MACHINE_NETNS", "netns" },
        { 0, NULL, NULL },
      };

      g_once_init_leave (&type, g_enum_register_static ("LabMachineSource", values));
    }
  return type;
}

const char *
lab_machine_source_to_string (LabMachineSource source)
{
  switch (source)
    {
    case LAB_MACHINE_HOST:
      return "host";
    case LAB_MACHINE_MACHINED:
      return "machined";
    case LAB_MACHINE_NETNS:
      return "netns";
    default:
      g_return_val_if_reached ("unknown");
    }
}

static void
lab_machine_finalize (GObject *object)
{
  LabMachine *self = LAB_MACHINE (object);

  g_free (self->name);
  g_clear_pointer (&self->netns, lab_netns_unref);
  g_free (self->klass);
  g_clear_pointer (&self->interfaces, g_ptr_array_unref);

  G_OBJECT_CLASS (lab_machine_parent_class)->finalize (object);
}

static void
lab_machine_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LabMachine *self = LAB_MACHINE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_SOURCE:
      g_value_set_enum (value, self->source);
      break;
    case PROP_NETNS:
      g_value_set_boxed (value, self->netns);
      break;
    case PROP_CLASS:
      g_value_set_string (value, self->klass);
      break;
    case PROP_LEADER:
      g_value_set_int (value, self->leader);
      break;
    case PROP_NETNS_INODE:
      g_value_set_uint64 (value, self->netns_inode);
      break;
    case PROP_SHARES_HOST_NETWORK:
      g_value_set_boolean (value, self->shares_host_network);
      break;
    case PROP_INTERFACES:
      g_value_set_boxed (value, self->interfaces);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lab_machine_set_property (GObject *object, guint prop_id, const GValue *value,
                          GParamSpec *pspec)
{
  LabMachine *self = LAB_MACHINE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      self->name = g_value_dup_string (value);
      break;
    case PROP_SOURCE:
      self->source = g_value_get_enum (value);
      break;
    case PROP_NETNS:
      self->netns = g_value_dup_boxed (value);
      break;
    case PROP_CLASS:
      lab_machine_set_class (self, g_value_get_string (value));
      break;
    case PROP_LEADER:
      lab_machine_set_leader (self, g_value_get_int (value));
      break;
    case PROP_NETNS_INODE:
      lab_machine_set_netns_inode (self, g_value_get_uint64 (value));
      break;
    case PROP_SHARES_HOST_NETWORK:
      lab_machine_set_shares_host_network (self, g_value_get_boolean (value));
      break;
    case PROP_INTERFACES:
      lab_machine_set_interfaces (self, g_value_get_boxed (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lab_machine_class_init (LabMachineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags readwrite = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  GParamFlags construct_only = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = lab_machine_finalize;
  object_class->get_property = lab_machine_get_property;
  object_class->set_property = lab_machine_set_property;

  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, construct_only);
  properties[PROP_SOURCE] = g_param_spec_enum ("source", NULL, NULL,
                                               lab_machine_source_get_type (), LAB_MACHINE_HOST,
                                               construct_only);
  properties[PROP_NETNS] = g_param_spec_boxed ("netns", NULL, NULL, LAB_TYPE_NETNS,
                                               construct_only);
  properties[PROP_CLASS] = g_param_spec_string ("class", NULL, NULL, NULL, readwrite);
  properties[PROP_LEADER] = g_param_spec_int ("leader", NULL, NULL, 0, G_MAXINT, 0, readwrite);
  properties[PROP_NETNS_INODE] = g_param_spec_uint64 ("netns-inode", NULL, NULL, 0, G_MAXUINT64,
                                                      0, readwrite);
  properties[PROP_SHARES_HOST_NETWORK] = g_param_spec_boolean ("shares-host-network", NULL, NULL,
                                                               FALSE, readwrite);
  properties[PROP_INTERFACES] = g_param_spec_boxed ("interfaces", NULL, NULL, G_TYPE_PTR_ARRAY,
                                                    readwrite);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
lab_machine_init (LabMachine *self)
{
}

LabMachine *
lab_machine_new (LabMachineSource source, const char *name, LabNetns *netns)
{
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (netns != NULL, NULL);

  return g_object_new (LAB_TYPE_MACHINE, "source", source, "name", name, "netns", netns, NULL);
}

const char *
lab_machine_get_name (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), NULL);
  return self->name;
}

LabMachineSource
lab_machine_get_source (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), LAB_MACHINE_HOST);
  return self->source;
}

LabNetns *
lab_machine_get_netns (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), NULL);
  return self->netns;
}

const char *
lab_machine_get_class (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), NULL);
  return self->klass;
}

void
lab_machine_set_class (LabMachine *self, const char *klass)
{
  g_return_if_fail (LAB_IS_MACHINE (self));

  if (g_strcmp0 (self->klass, klass) == 0)
    return;
  g_free (self->klass);
  self->klass = g_strdup (klass);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLASS]);
}

GPid
lab_machine_get_leader (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), 0);
  return self->leader;
}

void
lab_machine_set_leader (LabMachine *self, GPid leader)
{
  g_return_if_fail (LAB_IS_MACHINE (self));

  if (self->leader == leader)
    return;
  self->leader = leader;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LEADER]);
}

guint64
lab_machine_get_netns_inode (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), 0);
  return self->netns_inode;
}

void
lab_machine_set_netns_inode (LabMachine *self, guint64 inode)
{
  g_return_if_fail (LAB_IS_MACHINE (self));

  if (self->netns_inode == inode)
    return;
  self->netns_inode = inode;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NETNS_INODE]);
}

gboolean
lab_machine_get_shares_host_network (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), FALSE);
  return self->shares_host_network;
}

void
lab_machine_set_shares_host_network (LabMachine *self, gboolean shares)
{
  g_return_if_fail (LAB_IS_MACHINE (self));

  shares = !!shares;
  if (self->shares_host_network == shares)
    return;
  self->shares_host_network = shares;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHARES_HOST_NETWORK]);
}

GPtrArray *
lab_machine_get_interfaces (LabMachine *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE (self), NULL);
  return self->interfaces;
}

static gboolean
interface_equal (const LabInterface *a, const LabInterface *b)
{
  return g_strcmp0 (a->name, b->name) == 0 && a->ifindex == b->ifindex && a->flags == b->flags
         && g_strcmp0 (a->kind, b->kind) == 0 && g_strcmp0 (a->mac, b->mac) == 0
         && g_strcmp0 (a->qdisc_kind, b->qdisc_kind) == 0
         && ((a->addresses == NULL && b->addresses == NULL)
             || (a->addresses != NULL && b->addresses != NULL
                 && g_strv_equal ((const char * const *) a->addresses,
                                  (const char * const *) b->addresses)));
}

static gboolean
interfaces_equal (GPtrArray *a, GPtrArray *b)
{
  if (a == b)
    return TRUE;
  if (a == NULL || b == NULL || a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    if (!interface_equal (g_ptr_array_index (a, i), g_ptr_array_index (b, i)))
      return FALSE;
  return TRUE;
}

/* Takes a new reference to @interfaces; an equal listing keeps the old array and stays quiet. */
void
lab_machine_set_interfaces (LabMachine *self, GPtrArray *interfaces)
{
  g_return_if_fail (LAB_IS_MACHINE (self));

  if (interfaces_equal (self->interfaces, interfaces))
    return;
  g_clear_pointer (&self->interfaces, g_ptr_array_unref);
  if (interfaces != NULL)
    self->interfaces = g_ptr_array_ref (interfaces);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_INTERFACES]);
}
