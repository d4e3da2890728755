/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-error.h"

#include <errno.h>
#include <stdlib.h>

G_DEFINE_QUARK (lab-error-quark, lab_error)

LabError
lab_error_from_errno (int err)
{
  switch (abs (err))
    {
    case ENOENT:
    case ENODEV:
    case ESRCH:
    case ENXIO:
      return LAB_ERROR_NOT_FOUND;
    case EINVAL:
    case ERANGE:
      return LAB_ERROR_INVALID_ARGUMENT;
    case EOPNOTSUPP:
    case ENOSYS:
      return LAB_ERROR_NOT_SUPPORTED;
    case EPERM:
    case EACCES:
      return LAB_ERROR_PERMISSION;
    case EBUSY:
      return LAB_ERROR_BUSY;
    case EEXIST:
      return LAB_ERROR_EXISTS;
    default:
      return LAB_ERROR_FAILED;
    }
}
