/**
 * Reading an `Upload` (graphql-upload-minimal) into memory with a byte cap. Over-size files are
 * IMAGE_TOO_LARGE (the multipart parser truncates them at GLIMPSE_MAX_IMAGE_BYTES too); a broken multipart
 * stream is BAD_USER_INPUT.
 */
import type { FileUpload } from 'graphql-upload-minimal';
import { GlimpseError, badInput } from '../../errors.js';

export type UploadValue = Promise<FileUpload> | FileUpload | { promise: Promise<FileUpload> };

export async function readUpload(value: UploadValue, maxBytes: number, label: string): Promise<Buffer> {
  let file: FileUpload;
  try {
    file = await ((value as { promise?: Promise<FileUpload> }).promise ?? (value as Promise<FileUpload> | FileUpload));
  } catch (err) {
    throw uploadError(err, maxBytes, label);
  }
  if (!file || typeof file.createReadStream !== 'function')
    throw badInput(`${label}: not a file upload`, { field: label });
  const stream = file.createReadStream();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        stream.destroy();
        throw new GlimpseError('IMAGE_TOO_LARGE', `${label}: the file is over the limit of ${maxBytes} bytes`, {
          field: label,
          maxBytes,
        });
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw uploadError(err, maxBytes, label);
  }
  return Buffer.concat(chunks, total);
}

function uploadError(err: unknown, maxBytes: number, label: string): GlimpseError {
  if (err instanceof GlimpseError) return err;
  const e = err as { status?: unknown; message?: unknown };
  if (e?.status === 413 || /exceeds the \d+ byte size limit/.test(String(e?.message))) {
    return new GlimpseError('IMAGE_TOO_LARGE', `${label}: the file is over the limit of ${maxBytes} bytes`, {
      field: label,
      maxBytes,
    });
  }
  return badInput(`${label}: the upload could not be read (${String(e?.message ?? 'stream error')})`, { field: label });
}
