//! Parquet in and out with the `parquet` crate's column API (no Arrow): pandas and pyarrow
//! write nullable columns, snappy-compressed, usually dictionary-encoded.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::Compression;
use parquet::column::reader::{ColumnReaderImpl, get_typed_column_reader};
use parquet::data_type::{DataType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// The rows `filter-table` keeps, by column.
#[derive(Default)]
pub(crate) struct Filtered {
    pub(crate) id: Vec<i64>,
    pub(crate) amount: Vec<f64>,
    pub(crate) total: Vec<f64>,
}

/// The `id` (int64) and `amount` (double) columns of the parquet file at `path`; errors call
/// it `name`.
pub(crate) fn read(path: &Path, name: &str) -> Result<(Vec<i64>, Vec<f64>), String> {
    // From memory: parquet reads a `std::fs::File` through `try_clone`, which WASI lacks.
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let reader = SerializedFileReader::new(Bytes::from(bytes))
        .map_err(|e| format!("{name} is not a parquet file: {e}"))?;
    let ids = column::<Int64Type>(&reader, name, "id")?;
    let amounts = column::<DoubleType>(&reader, name, "amount")?;
    Ok((ids, amounts))
}

/// Every value of the column `wanted`, of physical type `T`, across the row groups; a missing
/// column, another type or a null is an error naming the file and the column.
fn column<T: DataType>(
    reader: &SerializedFileReader<Bytes>,
    name: &str,
    wanted: &str,
) -> Result<Vec<T::T>, String> {
    let schema = reader.metadata().file_metadata().schema_descr();
    let (index, descr) = schema
        .columns()
        .iter()
        .enumerate()
        .find(|(_, c)| c.name() == wanted)
        .ok_or_else(|| {
            let found: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
            format!("{name} has no column `{wanted}` (its columns: {found:?})")
        })?;
    if descr.physical_type() != T::get_physical_type() {
        return Err(format!(
            "column `{wanted}` of {name} is {}, not {}",
            descr.physical_type(),
            T::get_physical_type()
        ));
    }
    let broken = |e: parquet::errors::ParquetError| format!("cannot read {name}: {e}");
    let mut values = Vec::new();
    for group in 0..reader.num_row_groups() {
        let row_group = reader.get_row_group(group).map_err(broken)?;
        let mut column: ColumnReaderImpl<T> =
            get_typed_column_reader(row_group.get_column_reader(index).map_err(broken)?);
        let mut levels = Vec::new();
        loop {
            let before = values.len();
            let (records, read, _) = column
                .read_records(1024, Some(&mut levels), None, &mut values)
                .map_err(broken)?;
            if records == 0 {
                break;
            }
            if read != records || values.len() - before != records {
                return Err(format!("column `{wanted}` of {name} has nulls"));
            }
            levels.clear();
        }
    }
    Ok(values)
}

/// Writes `rows` as one snappy-compressed parquet file with required columns `id`, `amount`
/// and `total`.
pub(crate) fn write(path: &Path, rows: &Filtered) -> Result<(), String> {
    let name = path.display();
    let broken = |e: parquet::errors::ParquetError| format!("cannot write {name}: {e}");
    let schema = parse_message_type(
        "message filtered { REQUIRED INT64 id; REQUIRED DOUBLE amount; REQUIRED DOUBLE total; }",
    )
    .map_err(broken)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(path).map_err(|e| format!("cannot create {name}: {e}"))?;
    let mut writer =
        SerializedFileWriter::new(file, Arc::new(schema), Arc::new(properties)).map_err(broken)?;
    let mut group = writer.next_row_group().map_err(broken)?;
    let mut index = 0;
    while let Some(mut column) = group.next_column().map_err(broken)? {
        match index {
            0 => column
                .typed::<Int64Type>()
                .write_batch(&rows.id, None, None),
            1 => column
                .typed::<DoubleType>()
                .write_batch(&rows.amount, None, None),
            _ => column
                .typed::<DoubleType>()
                .write_batch(&rows.total, None, None),
        }
        .map_err(broken)?;
        column.close().map_err(broken)?;
        index += 1;
    }
    group.close().map_err(broken)?;
    writer.close().map_err(broken)?;
    Ok(())
}
